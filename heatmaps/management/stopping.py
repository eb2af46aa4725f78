"""The stop signal of the long-running commands (streams, recorder, replay)."""

from __future__ import annotations

import asyncio
import signal


def stop_event(seconds: float | None = None) -> asyncio.Event:
    """Set by Ctrl-C or SIGTERM (Procfile, systemd), or after ``seconds``; call it inside the running loop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if seconds is not None:
        loop.call_later(seconds, stop.set)
    return stop

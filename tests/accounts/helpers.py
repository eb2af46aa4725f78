from __future__ import annotations

import re

from django.core import mail


def link_in_mail(path_prefix: str, *, to: str) -> str:
    """The one link starting with `path_prefix` in the newest email sent to `to`, as a path."""
    sent = [message for message in mail.outbox if to in message.to]
    assert sent, f"no email to {to}; outbox: {[m.to for m in mail.outbox]}"
    links = re.findall(rf"https?://[^/\s]+({re.escape(path_prefix)}\S+)", str(sent[-1].body))
    assert len(links) == 1, sent[-1].body
    return links[0]

"""The open-interest flow of a run, per bucket: new positions, the long/short split, what a close (or
model v2's decay) keeps, and the prices that sweep.

Everything here is vectorised over the buckets and independent of the state; ``run`` steps the state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from heatmaps.engine.inputs import Buckets, FloatArray


@dataclass(frozen=True, slots=True)
class Flow:
    """Per bucket: new open interest (``gain``), the taker-buy share that splits it into longs and
    shorts (``s``), and the fraction of every position that survives a fall in OI (``keep``).

    With decay (model v2) ``keep`` also holds the decay factor, ``closing`` marks every bucket that
    shrinks the state, and ``close_share`` is the part of what it removes that is a close (the rest
    decayed); None means all of it (model v1)."""

    gain: FloatArray
    s: FloatArray
    closing: NDArray[np.bool_]
    keep: FloatArray
    close_share: FloatArray | None = None


def open_interest_flow(buckets: Buckets) -> Flow:
    n = len(buckets)
    oi = buckets.oi_value
    d = np.zeros(n)
    prev_oi = np.full(n, np.nan)
    if n > 1:
        np.subtract(oi[1:], oi[:-1], out=d[1:])
        prev_oi[1:] = oi[:-1]
    # Unknown OI on either side means no flow (see carry_open_interest); d[0] stays 0 because the
    # first bar of the run only sets the starting OI.
    d[np.isnan(d)] = 0.0
    volume, taker = buckets.volume, buckets.taker_buy
    known = (volume > 0) & ~np.isnan(taker)  # NaN volume compares False
    s = np.full(n, 0.5)
    s[known] = np.clip(taker[known] / volume[known], 0.0, 1.0)
    closing = (d < 0) & (prev_oi > 0)
    close_f = np.zeros(n)
    close_f[closing] = np.minimum(1.0, -d[closing] / prev_oi[closing])
    return Flow(gain=np.maximum(d, 0.0), s=s, closing=closing, keep=1 - close_f)


def with_decay(flow: Flow, decay: FloatArray | None) -> Flow:
    """Fold a per-bucket decay factor into the flow's ``keep``: the model is linear, so fading every
    position by a factor is a close the open interest did not report."""
    if decay is None:
        return flow
    decay = np.asarray(decay, dtype=np.float64)
    if decay.shape != flow.keep.shape:
        raise ValueError(f"decay has shape {decay.shape}, expected {flow.keep.shape}")
    if not ((decay >= 0) & (decay <= 1)).all():  # NaN fails both
        raise ValueError("decay factors must be between 0 and 1")
    keep = flow.keep * decay
    closing = flow.closing | (decay < 1)
    close_share = np.ones_like(keep)
    np.divide(1 - flow.keep, 1 - keep, out=close_share, where=closing)
    return Flow(gain=flow.gain, s=flow.s, closing=closing, keep=keep, close_share=close_share)


def sweep_prices(
    buckets: Buckets, sweep_low: FloatArray | None, sweep_high: FloatArray | None
) -> tuple[FloatArray, FloatArray]:
    """The prices that sweep each bucket's longs (low) and shorts (high); the candle's by default."""
    n = len(buckets)
    low = buckets.low if sweep_low is None else np.asarray(sweep_low, dtype=np.float64)
    high = buckets.high if sweep_high is None else np.asarray(sweep_high, dtype=np.float64)
    for name, arr in (("sweep_low", low), ("sweep_high", high)):
        if arr.shape != (n,):
            raise ValueError(f"{name} has shape {arr.shape}, expected ({n},)")
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} must be finite")
    return low, high

"""The open-interest guard: a change the market cannot have made is not booked as flow.

Open interest counts contracts held; a trade opens or closes at most the contracts it exchanges, so
between two snapshots open interest can move by at most the volume traded between them
(``|ΔOI| ≤ volume``, in contracts). A snapshot that breaks that bound against the last accepted one
is held back: the model then carries the previous value forward, as it does for a missing snapshot,
and no positions are opened or closed on it. A snapshot that jumps and comes back within a few rows
is a glitch ("spike") whatever the volume says: the return shows the jump never happened.

Where a series has no volume (an exchange whose candles are not stored), only the spike rule can
apply: a jump by more than ``SPIKE_RATIO`` that returns within ``MAX_SPIKE_ROWS`` rows is held
back; a lasting level change is accepted, because nothing tells it apart from a real one.

Pure numpy, arrays in and out: the same function guards the flow where open interest enters the
engine (``heatmaps/maps.py``, per exchange, and ``heatmap_from_files``) and flags rows at ingest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from heatmaps.engine.inputs import FloatArray

# A glitch is at most this many consecutive snapshots (a quarter of an hour of 5-minute rows):
# longer departures are level changes and are judged by the volume rule alone.
MAX_SPIKE_ROWS = 3
# Without volume: a departure by more than this factor that returns within MAX_SPIKE_ROWS is a spike.
SPIKE_RATIO = 1.5
# Snapshots are taken at a bar's close, give or take the exchange's sampling delay: the budget
# counts one bar's volume either side of the span, so a late or early stamp is not a violation.
_EDGE_BARS = 1
# Exchanges round open interest; a change below this share of it is never a violation.
_ROUNDING = 1e-6

NONE, EXCEEDS_VOLUME, SPIKE = 0, 1, 2
REASONS = {EXCEEDS_VOLUME: "exceeds_volume", SPIKE: "spike"}


@dataclass(frozen=True, slots=True)
class GuardResult:
    """Per row: why it is held back (``NONE``, ``EXCEEDS_VOLUME`` or ``SPIKE``)."""

    reason: NDArray[np.int8]

    @property
    def held_back(self) -> NDArray[np.bool_]:
        return self.reason != NONE

    @property
    def count(self) -> int:
        return int(np.count_nonzero(self.reason))

    def guarded(self, oi_value: FloatArray) -> FloatArray:
        """``oi_value`` with held-back rows unknown (NaN): the model carries the last value over them."""
        if not self.count:
            return oi_value
        out = oi_value.copy()
        out[self.held_back] = np.nan
        return out


def guard_open_interest(oi_value: FloatArray, *, close: FloatArray, volume: FloatArray | None) -> GuardResult:
    """Which open-interest snapshots cannot have happened.

    ``oi_value`` is open interest in quote currency at each bar's close (NaN: no snapshot),
    ``close`` the bar's close (turns it into contracts), ``volume`` the contracts (base units)
    traded in each bar on the same exchange, NaN or None where unknown. All arrays are per base bar,
    oldest first, with no missing bars between rows that both have a value (a missing bar's row is
    present with NaN). Rows without a value are never held back.
    """
    n = oi_value.shape[0]
    reason = np.zeros(n, dtype=np.int8)
    known = np.isfinite(oi_value) & np.isfinite(close) & (close > 0)
    idx = np.flatnonzero(known)
    if idx.shape[0] < 2:
        return GuardResult(reason)
    contracts = oi_value[idx] / close[idx]
    vol = np.full(n, np.nan) if volume is None else volume
    cum_vol = np.concatenate(([0.0], np.cumsum(np.where(np.isfinite(vol), vol, 0.0))))
    cum_unknown = np.concatenate(([0], np.cumsum(~np.isfinite(vol))))

    def budget(a: NDArray[np.intp], b: NDArray[np.intp]) -> tuple[FloatArray, NDArray[np.bool_]]:
        """Contracts that traded from bar ``a`` to bar ``b`` (rows of ``idx``), one bar either side
        included, and whether every one of those bars' volume is known."""
        lo = np.maximum(idx[a] + 1 - _EDGE_BARS, 0)
        hi = np.minimum(idx[b] + 1 + _EDGE_BARS, n)
        return cum_vol[hi] - cum_vol[lo], (cum_unknown[hi] - cum_unknown[lo]) == 0

    def plausible(a: NDArray[np.intp], b: NDArray[np.intp]) -> NDArray[np.bool_]:
        change = np.abs(contracts[b] - contracts[a])
        allowed, measured = budget(a, b)
        small = change <= _ROUNDING * np.maximum(contracts[a], contracts[b])
        by_volume = change <= allowed
        ratio = np.maximum(contracts[a], contracts[b]) / np.maximum(np.minimum(contracts[a], contracts[b]), 1e-300)
        by_ratio = ratio <= SPIKE_RATIO
        return small | np.where(measured, by_volume, by_ratio)

    # Fast path: on clean data every step from one snapshot to the next is plausible.
    steps_ok = plausible(np.arange(idx.shape[0] - 1), np.arange(1, idx.shape[0]))
    if steps_ok.all():
        return GuardResult(reason)
    bad_steps = np.flatnonzero(~steps_ok)  # step k goes from row k to row k + 1 of idx

    # The slow path walks row by row from each implausible step, on plain Python numbers.
    c_list, i_list = contracts.tolist(), idx.tolist()
    cv_list, cu_list = cum_vol.tolist(), cum_unknown.tolist()

    def span(a: int, b: int) -> tuple[float, bool]:
        lo, hi = max(i_list[a] + 1 - _EDGE_BARS, 0), min(i_list[b] + 1 + _EDGE_BARS, n)
        return cv_list[hi] - cv_list[lo], cu_list[hi] == cu_list[lo]

    def one(a: int, b: int) -> bool:
        ca, cb = c_list[a], c_list[b]
        change, larger, smaller = abs(cb - ca), max(ca, cb), min(ca, cb)
        if change <= _ROUNDING * larger:
            return True
        allowed, known_volume = span(a, b)
        return change <= allowed if known_volume else larger <= SPIKE_RATIO * max(smaller, 1e-300)

    def measured(a: int, b: int) -> bool:
        return span(a, b)[1]

    m = idx.shape[0]
    held = np.zeros(m, dtype=np.int8)
    anchor = _settled_start(one, m)
    held[:anchor] = SPIKE  # an island before the series settles is a glitch at its start
    k = anchor + 1
    while k < m:
        if k - 1 == anchor:
            # In step with the data: every row up to the next implausible step is accepted.
            pos = int(np.searchsorted(bad_steps, anchor))
            if pos == bad_steps.shape[0]:
                break
            anchor = int(bad_steps[pos])
            k = anchor + 1
        if one(anchor, k):
            anchor = k
        elif any(one(anchor, j) and not one(k, j) for j in range(k + 1, min(k + 1 + MAX_SPIKE_ROWS, m))):
            held[k] = SPIKE  # a later row agrees with the anchor and not with this one: it came back
        elif measured(anchor, k):
            held[k] = EXCEEDS_VOLUME
        else:
            anchor = k  # a lasting change that nothing can judge: accept it
        k += 1
    reason[idx] = held
    return GuardResult(reason)


def _settled_start(plausible_step: Callable[[int, int], bool], m: int) -> int:
    """The first row from which the next ``MAX_SPIKE_ROWS`` steps are plausible, if it is within the
    first ``MAX_SPIKE_ROWS`` rows (rows before it are an island: a glitch at the series' start);
    otherwise 0."""
    for start in range(min(MAX_SPIKE_ROWS, m - 1) + 1):
        end = min(start + MAX_SPIKE_ROWS, m - 1)
        if all(plausible_step(j, j + 1) for j in range(start, end)):
            return start
    return 0

"""Steps into events: one wall reached once is one observation, however many steps pointed at it.

Neighbouring steps share most of their horizon and usually point at the same peak, so the same
touch of the same wall would be counted at every step that saw it coming. A step that reached a
peak first joins the event of the resolved step before it when both reached the same side, on the
same 5-minute bar, at peaks within one bin of each other (the wider of the two maps' bins, since
each step's grid is its own); otherwise it starts a new event.
"""

from __future__ import annotations

import numpy as np

from heatmaps.engine.inputs import FloatArray, IntArray


def group_events(*, side: IntArray, peak: FloatArray, touch_ms: IntArray, bin_width: FloatArray) -> IntArray:
    """Event number (0, 1, …) per resolved step, in time order.

    ``side`` is +1 where the upper peak was reached first and -1 where the lower was; ``peak`` the
    price of the peak reached, ``touch_ms`` the close time of the bar that reached it. The arrays
    hold resolved steps only, oldest first.
    """
    n = side.shape[0]
    if n == 0:
        return np.empty(0, dtype=np.int64)
    same_side = side[1:] == side[:-1]
    same_touch = touch_ms[1:] == touch_ms[:-1]
    same_wall = np.abs(peak[1:] - peak[:-1]) <= np.maximum(bin_width[1:], bin_width[:-1])
    new = np.concatenate(([True], ~(same_side & same_touch & same_wall)))
    return np.asarray(np.cumsum(new) - 1, dtype=np.int64)


def first_of_each(event: IntArray) -> IntArray:
    """Index of each event's first step: the earliest map that pointed at the wall, with the longest lead."""
    if event.shape[0] == 0:
        return np.empty(0, dtype=np.int64)
    return np.flatnonzero(np.concatenate(([True], event[1:] != event[:-1]))).astype(np.int64)

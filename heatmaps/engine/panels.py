"""Base-bar series summed or sampled onto a map's columns, for the panels under the heat map.

A column is the bucket [t, t + bar_ms) of the map's time axis; a base bar belongs to the column its
open time falls in. Columns without a known value come back as NaN, so a gap in the data stays a gap
in the chart instead of being drawn as zero.
"""

from __future__ import annotations

import numpy as np

from heatmaps.engine.inputs import FloatArray, IntArray


def _spans(open_time: IntArray, times: IntArray, bar_ms: int) -> tuple[IntArray, IntArray]:
    starts = np.searchsorted(open_time, times, side="left")
    ends = np.searchsorted(open_time, times + bar_ms, side="left")
    return starts, ends


def bucket_sum(open_time: IntArray, values: FloatArray, times: IntArray, bar_ms: int) -> FloatArray:
    """Sum of the known values per column; NaN where a column holds no known value."""
    starts, ends = _spans(open_time, times, bar_ms)
    known = ~np.isnan(values)
    csum = np.concatenate(([0.0], np.cumsum(np.where(known, values, 0.0))))
    ccount = np.concatenate(([0], np.cumsum(known)))
    out = csum[ends] - csum[starts]
    return np.where(ccount[ends] - ccount[starts] > 0, out, np.nan)


def bucket_last(open_time: IntArray, values: FloatArray, times: IntArray, bar_ms: int) -> FloatArray:
    """The newest known value inside each column; NaN where there is none."""
    starts, ends = _spans(open_time, times, bar_ms)
    idx = np.where(np.isnan(values), -1, np.arange(values.shape[0]))
    np.maximum.accumulate(idx, out=idx)
    out = np.full(times.shape[0], np.nan)
    has_bar = ends > starts
    last = idx[np.maximum(ends - 1, 0)]
    ok = has_bar & (last >= starts)
    out[ok] = values[last[ok]]
    return out

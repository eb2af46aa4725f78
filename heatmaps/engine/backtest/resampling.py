"""Intervals by a calendar-day block bootstrap.

Intraday moves correlate across the day, and a step's outcome shares its horizon with its
neighbours', so observations are resampled in whole blocks of calendar days (UTC), never one by
one: a block is one day, or as many whole days as the horizon when the horizon is longer. The
blocks that hold at least one observation are drawn with replacement, as many as there are, and
a figure is recomputed from the drawn blocks' totals. Deterministic: each figure draws from its
own generator, seeded by the run's seed and the figure's name, so adding a figure moves no other.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np

from heatmaps.engine.inputs import FloatArray, IntArray

DAY_MS = 86_400_000


def block_length_ms(horizon_ms: int) -> int:
    """One day, or the horizon rounded up to whole days when it is longer."""
    return max(1, -(-horizon_ms // DAY_MS)) * DAY_MS


def day_blocks(*, time_ms: IntArray, block_ms: int) -> IntArray:
    """The calendar block of each time: blocks are aligned to 1970-01-01 00:00 UTC."""
    if block_ms <= 0 or block_ms % DAY_MS:
        raise ValueError("a block is a positive whole number of days")
    return np.asarray(time_ms // block_ms, dtype=np.int64)


def figure_rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def resampled_totals(
    *, values: FloatArray, blocks: IntArray, reps: int, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray] | None:
    """Totals of each column of ``values`` (n × k) and the count of observations, over ``reps``
    resamples of the blocks: arrays (reps × k) and (reps,). None with fewer than two blocks."""
    ids, inverse = np.unique(blocks, return_inverse=True)
    b = ids.shape[0]
    if b < 2 or reps < 1:
        return None
    k = values.shape[1]
    sums = np.zeros((b, k))
    np.add.at(sums, inverse, values)
    counts = np.bincount(inverse, minlength=b).astype(np.float64)
    draw = rng.integers(0, b, size=(reps, b))
    return sums[draw].sum(axis=1), counts[draw].sum(axis=1)


def interval(
    *,
    values: FloatArray,
    blocks: IntArray,
    statistic: Callable[[FloatArray, FloatArray], FloatArray],
    reps: int,
    rng: np.random.Generator,
) -> list[float] | None:
    """95 % percentile interval of ``statistic(totals, counts)`` (vectorised over resamples)."""
    drawn = resampled_totals(values=values, blocks=blocks, reps=reps, rng=rng)
    if drawn is None:
        return None
    stats = statistic(*drawn)
    stats = stats[np.isfinite(stats)]
    if stats.shape[0] == 0:
        return None
    lo, hi = np.percentile(stats, [2.5, 97.5])
    return [float(lo), float(hi)]


def mean_interval(values: FloatArray, *, blocks: IntArray, reps: int, rng: np.random.Generator) -> list[float] | None:
    """95 % interval of the mean of ``values`` (one per observation)."""
    return interval(values=values[:, None], blocks=blocks, statistic=lambda t, c: t[:, 0] / c, reps=reps, rng=rng)

"""The open-interest guard: what the market cannot have done is held back, clean data is untouched."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from heatmaps.engine.oi_guard import (
    EXCEEDS_VOLUME,
    MAX_SPIKE_ROWS,
    NONE,
    SPIKE,
    SPIKE_RATIO,
    guard_open_interest,
)

SAMPLE = Path(__file__).resolve().parents[3] / "heatmaps" / "marketdata" / "sample_data"


def _sample(symbol: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The bundled sample: real candles (close, volume) and the synthetic OI stamped at each bar's close."""
    candles = np.genfromtxt(SAMPLE / f"{symbol}-5m.csv", delimiter=",", skip_header=1, usecols=(5, 6))
    with (SAMPLE / f"{symbol}-metrics-5m-SIMULATED.csv").open() as fh:
        oi = np.array([float(row[3]) for row in list(csv.reader(fh))[1:]])
    n = min(candles.shape[0], oi.shape[0])
    return oi[:n], candles[:n, 0], candles[:n, 1]


def _reference(oi: np.ndarray, close: np.ndarray, volume: np.ndarray | None) -> np.ndarray:
    """The rule written the plain way: walk every row against the last accepted one."""
    n = oi.shape[0]
    vol = np.full(n, np.nan) if volume is None else volume
    idx = [i for i in range(n) if np.isfinite(oi[i]) and close[i] > 0]
    c = [oi[i] / close[i] for i in idx]

    def plausible(a: int, b: int) -> bool:
        change = abs(c[b] - c[a])
        if change <= 1e-6 * max(c[a], c[b]):
            return True
        span = vol[max(idx[a], 0) : min(idx[b] + 2, n)]
        if np.isfinite(span).all():
            return change <= span.sum()
        return max(c[a], c[b]) <= SPIKE_RATIO * min(c[a], c[b])

    reason = np.zeros(n, dtype=np.int8)
    m = len(idx)
    if m < 2:
        return reason
    start = 0
    for s in range(min(MAX_SPIKE_ROWS, m - 1) + 1):
        if all(plausible(j, j + 1) for j in range(s, min(s + MAX_SPIKE_ROWS, m - 1))):
            start = s
            break
    for j in range(start):
        reason[idx[j]] = SPIKE
    anchor = start
    for k in range(start + 1, m):
        if plausible(anchor, k):
            anchor = k
        elif any(plausible(anchor, j) and not plausible(k, j) for j in range(k + 1, min(k + 1 + MAX_SPIKE_ROWS, m))):
            reason[idx[k]] = SPIKE
        elif np.isfinite(vol[max(idx[anchor], 0) : min(idx[k] + 2, n)]).all():
            reason[idx[k]] = EXCEEDS_VOLUME
        else:
            anchor = k
    return reason


@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT"])
def test_clean_sample_is_untouched(symbol: str) -> None:
    oi, close, volume = _sample(symbol)
    result = guard_open_interest(oi, close=close, volume=volume)
    assert result.count == 0
    assert result.guarded(oi) is oi


@pytest.mark.parametrize("factor", [1e-5, 1e5])
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_one_corrupt_value_is_held_back_alone(factor: float, where: str) -> None:
    oi, close, volume = _sample("BTCUSDT")
    pos = {"first": 0, "middle": oi.shape[0] // 2, "last": oi.shape[0] - 1}[where]
    bad = oi.copy()
    bad[pos] *= factor
    result = guard_open_interest(bad, close=close, volume=volume)
    assert np.flatnonzero(result.held_back).tolist() == [pos]
    # The last row cannot be seen to come back: it is refused by the volume bound, not as a spike.
    assert result.reason[pos] == (EXCEEDS_VOLUME if where == "last" else SPIKE)
    guarded = result.guarded(bad)
    assert np.isnan(guarded[pos]) and np.array_equal(np.delete(guarded, pos), np.delete(oi, pos))


def test_truncated_value_is_held_back_without_volume_too() -> None:
    """An exchange whose candles we lack: the spike rule alone still catches a value that returns."""
    oi, close, _ = _sample("ETHUSDT")
    bad = oi.copy()
    bad[700] = 79_463.0  # a value cut short, as in a damaged metrics file
    result = guard_open_interest(bad, close=close, volume=None)
    assert np.flatnonzero(result.held_back).tolist() == [700]


def test_a_change_larger_than_the_volume_traded_is_held_back_until_volume_allows_it() -> None:
    n = 40
    close = np.full(n, 100.0)
    volume = np.full(n, 10.0)  # 10 contracts a bar
    oi = np.full(n, 1_000.0 * 100)  # 1 000 contracts
    oi[20:] = 1_100.0 * 100  # +100 contracts at once: needs ~10 bars of trading, not 1
    result = guard_open_interest(oi, close=close, volume=volume)
    held = np.flatnonzero(result.held_back)
    assert held[0] == 20 and (result.reason[held] == EXCEEDS_VOLUME).all()
    # Accepted once the volume traded since the last accepted snapshot covers the change.
    first_ok = int(held[-1]) + 1
    assert volume[19 : first_ok + 2].sum() >= 100 > volume[19 : first_ok + 1].sum()


def test_a_lasting_change_without_volume_is_accepted() -> None:
    """Nothing tells a real level change from a wrong one without volume: it is not held back."""
    close = np.full(30, 50.0)
    oi = np.r_[np.full(10, 1e6), np.full(20, 3e6)]
    assert guard_open_interest(oi, close=close, volume=None).count == 0


def test_missing_snapshots_are_not_held_back_and_widen_the_budget() -> None:
    close = np.full(12, 100.0)
    volume = np.full(12, 5.0)
    oi = np.full(12, np.nan)
    oi[0], oi[11] = 100 * 1_000.0, 100 * 1_050.0  # +50 contracts over 11 bars of 5
    result = guard_open_interest(oi, close=close, volume=volume)
    assert result.count == 0 and (result.reason[np.isnan(oi)] == NONE).all()


@pytest.mark.parametrize("seed", range(12))
def test_fast_path_equals_the_plain_rule(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 600
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    volume = rng.uniform(50, 150, n)
    contracts = 10_000 + np.cumsum(rng.uniform(-1, 1, n) * volume * 0.5)
    volume[rng.random(n) < 0.05] = np.nan
    oi = contracts * close
    oi[rng.random(n) < 0.05] = np.nan
    for pos in rng.choice(n, 8, replace=False):
        oi[pos : pos + rng.integers(1, 6)] *= rng.choice([1e-5, 0.3, 2.5, 1e5])
    use_volume = None if seed % 3 == 0 else volume
    result = guard_open_interest(oi, close=close, volume=use_volume)
    assert result.count > 0
    assert np.array_equal(result.reason, _reference(oi, close, use_volume))

"""The replay tape and clock: the sample played endlessly without a jump, a forming bar that ends as the
bar, a clock that catches up and never runs ahead of the wall."""

from __future__ import annotations

import numpy as np
import pytest

from heatmaps.replay.sample import sample_tape
from heatmaps.replay.tape import BAR_MS, FUNDING_MS, ReplayClock, Tape, funding_times, origin_ending_at

ORIGIN = 1_796_000_100_000 // BAR_MS * BAR_MS


@pytest.fixture(scope="module")
def tape() -> Tape:
    return sample_tape("BTCUSDT", origin_ms=ORIGIN)


def test_the_tape_is_the_sample_then_plays_on_from_where_it_closed(tape: Tape) -> None:
    raw = np.loadtxt(
        "heatmaps/marketdata/sample_data/BTCUSDT-5m.csv", delimiter=",", skiprows=1, usecols=(2, 3, 4, 5, 6)
    )
    n = tape.length
    assert n == raw.shape[0]
    for i in (0, 1, n // 2, n - 1):
        b = tape.bar(i)
        assert b.open_time_ms == ORIGIN + i * BAR_MS
        assert (b.open, b.high, b.low, b.close, b.volume) == tuple(raw[i])
    for lap_start in (n, 2 * n):
        before, after = tape.bar(lap_start - 1), tape.bar(lap_start)
        assert after.open == pytest.approx(before.close, rel=1e-12)
        assert tape.open_interest(lap_start)[0] == pytest.approx(tape.open_interest(lap_start - 1)[0], rel=1e-12)
        # The second lap repeats the first one's moves, scaled.
        ratio = after.close / after.open
        assert ratio == pytest.approx(tape.bar(lap_start - n).close / tape.bar(lap_start - n).open, rel=1e-12)


def test_a_forming_bar_stays_inside_its_bar_and_ends_as_the_bar(tape: Tape) -> None:
    for i in (5, 777, tape.length + 3):
        bar = tape.bar(i)
        highs, lows = [], []
        for step in range(0, BAR_MS, 10_000):
            f = tape.forming(bar.open_time_ms + step)
            assert f.open == bar.open
            assert bar.low <= f.low <= f.close <= f.high <= bar.high
            highs.append(f.high)
            lows.append(f.low)
        assert highs == sorted(highs) and lows == sorted(lows, reverse=True)  # extremes only widen
        end = tape.forming(bar.open_time_ms + BAR_MS - 1)
        assert end.close == pytest.approx(bar.close, rel=1e-4)
        assert (end.high, end.low) == pytest.approx((bar.high, bar.low), rel=1e-4)


def test_open_interest_moves_from_close_to_close(tape: Tape) -> None:
    i = 100
    start = tape.bar(i).open_time_ms
    assert tape.open_interest_at(start) == pytest.approx(tape.open_interest(i - 1)[0])
    mid = tape.open_interest_at(start + BAR_MS // 2)
    lo, hi = sorted((tape.open_interest(i - 1)[0], tape.open_interest(i)[0]))
    assert lo <= mid <= hi


def test_funding_settles_every_8_hours_with_the_sample_rates(tape: Tape) -> None:
    times = funding_times(ORIGIN, ORIGIN + 3 * 86_400_000)
    assert all(t % FUNDING_MS == 0 for t in times) and len(times) == 9
    rates = [tape.funding_rate(t) for t in times]
    assert set(rates) <= set(tape.funding.tolist())


def test_the_clock_catches_up_at_speed_then_keeps_to_the_wall() -> None:
    clock = ReplayClock(start_wall_ms=1_000_000_000, start_market_ms=1_000_000_000 - 3_600_000, speed=60)
    assert clock.market_ms(1_000_000_000) == 1_000_000_000 - 3_600_000
    assert clock.market_ms(1_000_000_000 + 10_000) == 1_000_000_000 - 3_600_000 + 600_000  # 10 s: two bars
    caught_up = 1_000_000_000 + 62_000  # the gap closes at 59x: an hour in 61.02 s
    assert clock.market_ms(caught_up) == caught_up
    for wall in range(1_000_000_000, 1_000_000_000 + 200_000, 7_000):
        assert clock.market_ms(wall) <= wall


def test_the_origin_puts_the_last_sample_bar_where_asked() -> None:
    origin = origin_ending_at(length=100, last_open_ms=ORIGIN + 500 * BAR_MS)
    assert origin + 99 * BAR_MS == ORIGIN + 500 * BAR_MS

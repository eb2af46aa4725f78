"""The offline demo: the sample prepared to end now, served as Binance by the replay, read by the
platform's own connector and stream process — run as `make run` runs them, in their own processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import pytest
from django.conf import settings

from heatmaps.exchanges import UnknownSymbolError, get_connector
from heatmaps.marketdata import dt_to_ms
from heatmaps.models import Asset, Candle, FundingRate, OpenInterest
from heatmaps.replay.sample import ReplayRefused, replay_prepare, replay_resume, sample_tape
from heatmaps.replay.server import ReplayMarket
from heatmaps.replay.tape import BAR_MS, ReplayClock
from tests.conftest import _database_url, _die_with_parent, wait_for
from tests.heatmaps.live.server import free_port
from tests.heatmaps.replay.running import serving

CATCHUP = 24


def _now_ms() -> int:
    return int(time.time() * 1000)


@pytest.mark.django_db
def test_prepare_shifts_the_sample_to_end_now_and_keeps_the_last_bars_back() -> None:
    now = _now_ms()
    start = replay_prepare(now_ms=now, catchup_bars=CATCHUP)
    btc = Asset.objects.get(symbol="BTCUSDT")
    tape = sample_tape("BTCUSDT", origin_ms=start.origin_ms)
    candles = Candle.objects.filter(asset=btc).order_by("open_time")
    last_closed = now // BAR_MS * BAR_MS - BAR_MS
    assert dt_to_ms(candles.last().open_time) == last_closed - CATCHUP * BAR_MS  # type: ignore[union-attr]
    assert start.resume_ms == last_closed - (CATCHUP - 1) * BAR_MS
    assert candles.count() == tape.length - CATCHUP
    first = candles.first()
    assert first is not None and (first.open, first.close) == (tape.bar(0).open, tape.bar(0).close)
    oi = OpenInterest.objects.filter(asset=btc)
    assert oi.count() == candles.count() and not oi.filter(simulated=False).exists()
    assert FundingRate.objects.filter(asset=btc).count() > 90
    assert replay_resume("BTCUSDT") == start
    # Again later: replaced, not doubled.
    replay_prepare(now_ms=now + 3_600_000, catchup_bars=CATCHUP)
    assert Candle.objects.filter(asset=btc).count() == tape.length - CATCHUP


@pytest.mark.django_db
def test_prepare_never_replaces_real_market_data() -> None:
    replay_prepare(now_ms=_now_ms(), catchup_bars=CATCHUP)
    eth = Asset.objects.get(symbol="ETHUSDT")
    real = OpenInterest.objects.filter(asset=eth).order_by("-time").first()
    assert real is not None
    real.simulated = False  # as the ingest stores a real exchange's figure
    real.save()
    before = Candle.objects.filter(asset=eth).count()
    with pytest.raises(ReplayRefused, match="ETHUSDT holds market data from binance"):
        replay_prepare(now_ms=_now_ms() + 600_000, catchup_bars=CATCHUP)
    assert Candle.objects.filter(asset=eth).count() == before
    assert OpenInterest.objects.filter(asset=eth, simulated=False).count() == 1


def test_the_connector_reads_the_replay_as_binance_only_up_to_its_clock() -> None:
    now = _now_ms()
    resume = now // BAR_MS * BAR_MS - 12 * BAR_MS
    tape = sample_tape("BTCUSDT", origin_ms=resume - 1000 * BAR_MS)
    clock = ReplayClock(start_wall_ms=now, start_market_ms=resume + 30_000, speed=1)  # 2.5 min into a bar
    with serving(ReplayMarket({"BTCUSDT": tape}, clock)) as host:
        conn = get_connector("binance", base_url=f"http://{host}")
        try:
            candles = conn.fetch_candles("BTCUSDT", resume - 6 * BAR_MS, now)
            assert [c.open_time_ms for c in candles] == [resume - k * BAR_MS for k in range(6, 0, -1)]
            for c in candles:
                b = tape.bar(tape.index_at(c.open_time_ms))
                assert (c.open, c.high, c.low, c.close, c.volume) == pytest.approx(
                    (b.open, b.high, b.low, b.close, b.volume), rel=1e-8
                )
            oi = conn.fetch_open_interest("BTCUSDT", resume - 6 * BAR_MS, now)
            # Stamped at each closed bar's close, from the one closing at the start of the span.
            assert [r.time_ms for r in oi] == [resume - k * BAR_MS for k in range(6, -1, -1)]
            assert oi[-1].oi_base == pytest.approx(tape.open_interest(tape.index_at(resume) - 1)[0], rel=1e-8)
            mark = conn.fetch_mark_price("BTCUSDT")  # type: ignore[attr-defined]
            assert mark.mark_price == pytest.approx(tape.price(mark.time_ms), rel=1e-8)
            assert resume < mark.time_ms < resume + BAR_MS  # the replay's time, not the wall's
            with pytest.raises(UnknownSymbolError):
                conn.fetch_candles("DOGEUSDT", resume - BAR_MS, now)
        finally:
            conn.close()


@pytest.mark.django_db(transaction=True)
def test_the_stream_process_stores_the_replayed_bars_with_no_hole(tmp_path: Any) -> None:
    env = {
        **os.environ,
        "LIQ_TESTING": "1",
        "DEBUG": "1",
        "DATABASE_URL": _database_url(settings.DATABASES["default"]),
        "REDIS_URL": settings.REDIS_URL,
        "LIQ_REPLAY": "1",
        "LIQ_REPLAY_CATCHUP_BARS": "40",
    }
    manage = [sys.executable, "manage.py"]
    prepared = subprocess.run([*manage, "replay_market", "--prepare"], env=env, cwd=settings.BASE_DIR,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
    assert prepared.returncode == 0, prepared.stderr
    assert "heat maps computed for 12h, 24h" in prepared.stdout
    btc = Asset.objects.get(symbol="BTCUSDT")
    resume = replay_resume("BTCUSDT")
    assert resume is not None
    port = free_port()
    env |= {
        "LIQ_BINANCE_FAPI_URL": f"http://127.0.0.1:{port}",
        "LIQ_BINANCE_MARKET_WS_URL": f"ws://127.0.0.1:{port}/market/stream",
        "LIQ_BINANCE_OI_POLL_SECONDS": "1",
    }
    log = (tmp_path / "replay.log").open("wb")
    # 600x: a 5-minute bar every half second.
    replay = subprocess.Popen([*manage, "replay_market", "--port", str(port), "--speed", "600"], env=env,
                              cwd=settings.BASE_DIR, stdout=log, stderr=subprocess.STDOUT,
                              preexec_fn=_die_with_parent)  # fmt: skip
    try:
        wait_for(lambda: _answers(port), timeout=30)
        streamed = subprocess.run([*manage, "stream_market", "--exchange", "binance", "--seconds", "8"], env=env,
                                  cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=120)  # fmt: skip
    finally:
        replay.terminate()
        replay.wait(10)
        log.close()
    assert streamed.returncode == 0, streamed.stderr
    tape = sample_tape("BTCUSDT", origin_ms=resume.origin_ms)
    new = list(Candle.objects.filter(asset=btc, open_time__gte=_dt(resume.resume_ms)).order_by("open_time"))
    assert len(new) >= 6, streamed.stdout + streamed.stderr
    times = [dt_to_ms(c.open_time) for c in new]
    assert times == [resume.resume_ms + k * BAR_MS for k in range(len(new))]  # no hole, no duplicate
    for c in new:
        b = tape.bar(tape.index_at(dt_to_ms(c.open_time)))
        assert (c.open, c.close) == pytest.approx((b.open, b.close), rel=1e-8)
    new_oi = OpenInterest.objects.filter(asset=btc, time__gt=_dt(resume.resume_ms))
    assert new_oi.exists() and not new_oi.filter(simulated=False).exists()  # the sample's OI stays labelled


def _answers(port: int) -> bool:
    import httpx

    try:
        return httpx.get(f"http://127.0.0.1:{port}/fapi/v1/ping", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _dt(ms: int) -> Any:
    from heatmaps.marketdata import ms_to_dt

    return ms_to_dt(ms)

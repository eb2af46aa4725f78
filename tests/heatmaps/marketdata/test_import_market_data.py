"""The importer against real PostgreSQL: every format, header or not, ZIP, malformed files, re-import."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from heatmaps.marketdata import DumpFormatError, read_market_file
from heatmaps.models import Asset, Candle, FundingRate, Heatmap, OpenInterest

pytestmark = pytest.mark.django_db

T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC
KLINE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore"
)


def kline_lines(n: int, start: int = T0) -> list[str]:
    lines = []
    for i in range(n):
        t = start + i * 300_000
        o = 90_000 + i
        lines.append(f"{t},{o},{o + 50},{o - 40},{o + 10},12.5,{t + 299_999},1125000.0,900,7.25,652500.0,0")
    return lines


def write(path: Path, lines: list[str]) -> str:
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def call_import(*args: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import_market_data", *args, stdout=out, stderr=err)
    finally:
        output = out.getvalue() + err.getvalue()
    return output


def test_klines_with_header(btc: Asset, tmp_path: Path) -> None:
    path = write(tmp_path / "BTCUSDT-5m-2026-01-01.csv", [KLINE_HEADER, *kline_lines(4)])
    output = call_import(path)
    assert "4 rows read, 4 new or changed" in output
    first = Candle.objects.filter(asset=btc).order_by("open_time").first()
    assert first is not None
    assert first.open_time == datetime(2026, 1, 1, tzinfo=UTC)
    assert (first.open, first.high, first.low, first.close) == (90_000, 90_050, 89_960, 90_010)
    assert (first.volume, first.taker_buy_volume, first.quote_volume) == (12.5, 7.25, 1_125_000.0)


def test_klines_without_header_and_in_zip(btc: Asset, tmp_path: Path) -> None:
    archive = tmp_path / "BTCUSDT-5m-2026-01.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("BTCUSDT-5m-2026-01.csv", "\n".join(kline_lines(6)) + "\n")
    output = call_import(str(archive))
    assert "klines BTCUSDT@binance, 6 rows read, 6 new" in output
    assert Candle.objects.filter(asset=btc).count() == 6


def test_metrics_unsorted_with_repeats(btc: Asset, tmp_path: Path) -> None:
    header = "create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio"
    rows = [
        "2026-01-01 00:10:00,BTCUSDT,80002.0,7200180000.0,,,,",
        "2026-01-01 00:05:00,BTCUSDT,80001.0,7200090000.0,1.2,1.1,1.3,0.9",
        "2026-01-01 00:10:00,BTCUSDT,80002.0,7200180000.0,,,,",
    ]
    path = write(tmp_path / "BTCUSDT-metrics-2026-01-01.csv", [header, *rows])
    call_import(path)
    stored = list(OpenInterest.objects.filter(asset=btc).order_by("time").values_list("time", "oi_base", "oi_value"))
    assert stored == [
        (datetime(2026, 1, 1, 0, 5, tzinfo=UTC), 80001.0, 7200090000.0),
        (datetime(2026, 1, 1, 0, 10, tzinfo=UTC), 80002.0, 7200180000.0),
    ]
    assert not OpenInterest.objects.filter(simulated=True).exists()


def test_funding_rate_dump(btc: Asset, tmp_path: Path) -> None:
    path = write(
        tmp_path / "BTCUSDT-fundingRate-2026-01.csv",
        [
            "calc_time,funding_interval_hours,last_funding_rate",
            f"{T0},8,0.00010000",
            f"{T0 + 8 * 3_600_000},8,-0.00002500",
        ],
    )
    call_import(path)
    assert list(FundingRate.objects.filter(asset=btc).order_by("funding_time").values_list("rate", flat=True)) == [
        0.0001,
        -0.000025,
    ]


def test_plain_ohlcv_and_simulated_flag(btc: Asset, tmp_path: Path) -> None:
    ohlcv = write(
        tmp_path / "BTCUSDT-5m.csv",
        ["open_time_ms,open_time_utc,open,high,low,close,volume", f"{T0},2026-01-01T00:00:00Z,1,2,0.5,1.5,10"],
    )
    metrics = write(
        tmp_path / "BTCUSDT-metrics.csv",
        ["create_time,symbol,sum_open_interest,sum_open_interest_value", "2026-01-01 00:05:00,BTCUSDT,5,50"],
    )
    call_import(ohlcv)
    call_import(metrics, "--simulated-oi")
    candle = Candle.objects.get(asset=btc)
    assert candle.volume == 10 and candle.taker_buy_volume is None
    assert OpenInterest.objects.get(asset=btc).simulated is True


def row_versions() -> list[tuple[datetime, str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT open_time, ctid::text FROM heatmaps_candle ORDER BY open_time")
        return cursor.fetchall()


def test_reimport_is_a_no_op(btc: Asset, tmp_path: Path) -> None:
    path = write(tmp_path / "BTCUSDT-5m-2026-01-01.csv", [KLINE_HEADER, *kline_lines(50)])
    call_import(path)
    versions = row_versions()
    output = call_import(path)
    assert "50 rows read, 0 new or changed" in output
    assert row_versions() == versions  # not one row rewritten: any UPDATE moves a row to a new ctid


@pytest.mark.parametrize(
    "bad_line, problem",
    [
        ("{t},90000,90050,89960,abc,12.5,{t9},1,1,1,1,0", "close 'abc' is not a number"),
        ("{t},90000,90050,89960,90010,12.5,{t9},1,1", "expected 12 kline columns, found 9"),
        ("{t},90000,89000,89960,90010,12.5,{t9},1,1,1,1,0", "inconsistent candle"),
        ("{t},90000,90050,89960,90010,12.5,{t9},1,1,20,1,0", "taker_buy_volume exceeds volume"),
        ("{t},90000,90050,89960,90010,12.5,{t59},1,1,1,1,0", "not a 5m kline"),
    ],
)
def test_malformed_row_names_file_and_line_and_writes_nothing(
    btc: Asset, tmp_path: Path, bad_line: str, problem: str
) -> None:
    t = T0 + 10 * 300_000
    lines = [KLINE_HEADER, *kline_lines(10), bad_line.format(t=t, t9=t + 299_999, t59=t + 59_999)]
    path = write(tmp_path / "BTCUSDT-5m-2026-01-01.csv", lines)
    with pytest.raises(CommandError, match="1 of 1 file"):
        call_import(path)
    with pytest.raises(DumpFormatError) as info:
        read_market_file(path)
    assert info.value.line == 12 and problem in info.value.problem
    assert str(info.value).startswith(f"{path} line 12: ")
    assert Candle.objects.count() == 0


def test_error_output_names_the_file_and_line(btc: Asset, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "BTCUSDT-5m-2026-01-01.csv", [KLINE_HEADER, *kline_lines(3), "garbage"])
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_market_data", path, stdout=io.StringIO(), stderr=err)
    printed = err.getvalue() + capsys.readouterr().err
    assert f"{path} line 5: expected 12 kline columns, found 1" in printed


def test_one_bad_file_does_not_stop_the_good_ones(btc: Asset, tmp_path: Path) -> None:
    good = write(tmp_path / "BTCUSDT-5m-2026-01-01.csv", [KLINE_HEADER, *kline_lines(3)])
    bad = write(tmp_path / "BTCUSDT-5m-2026-01-02.csv", [KLINE_HEADER, *kline_lines(3, T0 + 86_400_000), "1,2"])
    with pytest.raises(CommandError, match="1 of 2 file"):
        call_import(good, bad)
    assert Candle.objects.count() == 3


@pytest.mark.parametrize(
    "content, problem",
    [
        ("", "file is empty"),
        ("hello,world\n1,2\n", "unrecognised format"),
        (KLINE_HEADER + "\n", "file has no data rows"),
    ],
)
def test_unreadable_files(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "BTCUSDT-x.csv"
    path.write_text(content)
    with pytest.raises(DumpFormatError, match=problem):
        read_market_file(str(path))


def test_corrupt_zip_and_wrong_asset(btc: Asset, tmp_path: Path) -> None:
    broken = tmp_path / "BTCUSDT-5m.zip"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DumpFormatError):
        read_market_file(str(broken))
    other = write(tmp_path / "DOGEUSDT-5m-2026-01-01.csv", [KLINE_HEADER, *kline_lines(2)])
    with pytest.raises(CommandError):
        call_import(other)
    with pytest.raises(CommandError, match="no such file"):
        call_import(str(tmp_path / "missing.csv"))
    assert Candle.objects.count() == 0


def test_conflicting_duplicate_rows_are_rejected(btc: Asset, tmp_path: Path) -> None:
    lines = kline_lines(2)
    changed = lines[0].replace(",12.5,", ",13.5,")
    path = write(tmp_path / "BTCUSDT-5m-2026-01-01.csv", [KLINE_HEADER, *lines, changed])
    with pytest.raises(DumpFormatError, match="line 4: conflicting duplicate of line 2"):
        read_market_file(path)


def test_load_sample_data_twice() -> None:
    out = io.StringIO()
    call_command("load_sample_data", stdout=out)
    counts = (Candle.objects.count(), OpenInterest.objects.count(), FundingRate.objects.count())
    assert counts == (2 * 9727, 2 * 9727, 2 * 102)
    assert OpenInterest.objects.filter(simulated=False).count() == 0
    # Both published models' nine maps per asset.
    assert Heatmap.objects.count() == 2 * 2 * 9 and all(m.oi_simulated for m in Heatmap.objects.all())
    assert set(Heatmap.objects.values_list("model", flat=True)) == {"v1", "v2"}
    out2 = io.StringIO()
    call_command("load_sample_data", stdout=out2)
    assert "new or changed" in out2.getvalue() and ", 0 new or changed" in out2.getvalue()
    assert "9727 new" not in out2.getvalue()
    assert (Candle.objects.count(), OpenInterest.objects.count(), FundingRate.objects.count()) == counts

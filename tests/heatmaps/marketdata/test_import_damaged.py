"""Damaged copies of real dump files are refused whole, naming file and line; provenance never
changes silently. The files are built from the bundled real candles (and the simulated metrics, in
Binance's metrics layout) in a temporary directory."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from heatmaps.marketdata import (
    DumpFormatError,
    ImportProblem,
    import_market_file,
    read_kline_columns,
    read_market_file,
    read_metrics_columns,
)
from heatmaps.models import Asset, Candle, FundingRate, OpenInterest

pytestmark = pytest.mark.django_db

SAMPLE_DIR = Path(settings.BASE_DIR) / "heatmaps" / "marketdata" / "sample_data"
KLINE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore"
)
DEC_27 = 1_766_793_600_000  # 2025-12-27 00:00 UTC
DAY = 288


def sample_rows(name: str) -> list[list[str]]:
    with open(SAMPLE_DIR / name, newline="") as f:
        return list(csv.reader(f))[1:]


def kline_lines(symbol: str, start_ms: int, bars: int) -> list[str]:
    """Real 5m candles of `symbol` from `start_ms`, as lines of Binance's klines dump."""
    lines = []
    for t, _, o, h, lo, c, v in sample_rows(f"{symbol}-5m.csv"):
        ms = int(t)
        if start_ms <= ms < start_ms + bars * 300_000:
            volume = float(v)
            lines.append(
                f"{ms},{o},{h},{lo},{c},{v},{ms + 299_999},{volume * float(c):.4f},1000,"
                f"{volume / 2:.3f},{volume * float(c) / 2:.4f},0"
            )
    assert len(lines) == bars
    return lines


def metrics_lines(symbol: str, start: str, rows: int) -> list[str]:
    """The bundled (simulated) open interest in Binance's metrics layout, 8 columns."""
    with open(SAMPLE_DIR / f"{symbol}-metrics-5m-SIMULATED.csv") as f:
        lines = f.read().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(start))
    return [lines[0], *lines[at : at + rows]]


def write(path: Path, lines: list[str], *, final_newline: bool = True) -> str:
    path.write_text("\n".join(lines) + ("\n" if final_newline else ""))
    return str(path)


def counts() -> tuple[int, int, int]:
    return Candle.objects.count(), OpenInterest.objects.count(), FundingRate.objects.count()


def stored_oi() -> list[tuple[Any, ...]]:
    return list(OpenInterest.objects.order_by("time").values_list("time", "oi_base", "oi_value", "simulated"))


def refused(*args: str) -> str:
    """Run the command, which must fail; its output (the error names file and line)."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="1 of 1 file"):
        call_command("import_market_data", *args, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def imported(*args: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_market_data", *args, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


@pytest.fixture
def btc_day(btc: Asset, tmp_path: Path) -> Iterator[Asset]:
    """BTC with its real candles of 2025-12-27 stored."""
    imported(write(tmp_path / "BTCUSDT-5m-2025-12-27.csv", [KLINE_HEADER, *kline_lines("BTCUSDT", DEC_27, DAY)]))
    assert Candle.objects.filter(asset=btc).count() == DAY
    yield btc


# ------------------------------------------------------------------ implausible candles


def test_a_real_day_imports_and_a_shifted_decimal_point_in_it_is_refused(btc_day: Asset, tmp_path: Path) -> None:
    lines = kline_lines("BTCUSDT", DEC_27 + DAY * 300_000, DAY)
    good = write(tmp_path / "BTCUSDT-5m-2025-12-28.csv", [KLINE_HEADER, *lines])
    cells = lines[99].split(",")
    cells[1:5] = [str(float(x) / 10) for x in cells[1:5]]  # one bar's prices a tenth of the rest
    lines[99] = ",".join(cells)
    bad = write(tmp_path / "BTCUSDT-5m-2025-12-28-damaged.csv", [KLINE_HEADER, *lines])
    before = counts()
    output = refused(bad)
    assert f"{bad} line 101: implausible candle: close {float(cells[4]):g}" in output
    assert "nothing from this file was written" in output
    assert counts() == before
    assert "288 rows read, 288 new or changed" in imported(good)


def test_another_assets_prices_under_this_name_are_refused_naming_the_stored_candle(
    btc_day: Asset, tmp_path: Path
) -> None:
    eth = kline_lines("ETHUSDT", DEC_27 + DAY * 300_000, DAY)  # no header: line 1 is the first candle
    path = write(tmp_path / "BTCUSDT-5m-2025-12-28.csv", eth)
    last_btc = Candle.objects.filter(asset=btc_day).latest("open_time")
    before = counts()
    with pytest.raises(ImportProblem) as info:
        import_market_file(path)
    message = str(info.value)
    assert message.startswith(f"{path} line 1: prices do not continue the stored BTCUSDT@binance candles")
    assert f"the stored candle at {last_btc.open_time:%Y-%m-%d %H:%M} UTC closed at {last_btc.close:g}" in message
    assert "2025-12-27 23:55 UTC" in message and f"close {float(eth[0].split(',')[4]):g}" in message
    assert "287 more implausible" in message
    assert counts() == before


# ------------------------------------------------------------------ the symbol in the file name


@pytest.mark.parametrize(
    "name, lines",
    [
        ("ETHUSDT-5m-2026-01-01.csv", [KLINE_HEADER, *kline_lines("ETHUSDT", DEC_27, 12)]),
        (
            "ETHUSDT-fundingRate-2026-01.csv",
            ["calc_time,funding_interval_hours,last_funding_rate", "1767225600000,8,0.0001"],
        ),
    ],
)
def test_a_file_named_for_another_symbol_is_refused(btc: Asset, tmp_path: Path, name: str, lines: list[str]) -> None:
    path = write(tmp_path / name, lines)
    before = counts()
    output = refused(path, "--asset", "BTCUSDT")
    assert f"{path}: file holds ETHUSDT (by its name), not BTCUSDT" in output
    assert counts() == before


# ------------------------------------------------------------------ a cut last line


def test_a_metrics_value_cut_short_is_refused_by_both_readers(btc: Asset, tmp_path: Path) -> None:
    lines = metrics_lines("BTCUSDT", "2025-12-27 00:05:00", DAY)
    full = lines[-1]
    cells = full.split(",")
    # The real case: the last row's sum_open_interest_value cut after five digits, nothing after it.
    cut = ",".join([*cells[:3], cells[3][:5]])
    path = write(tmp_path / "BTCUSDT-metrics-2025-12-27.csv", [*lines[:-1], cut], final_newline=False)
    for read in (read_market_file, read_metrics_columns):
        with pytest.raises(DumpFormatError) as info:
            read(path)
        assert info.value.line == DAY + 1 and "last line is cut short: 4 of 8 columns" in str(info.value)
    # A 4-column layout has no spare columns to count: the last field is shorter than any other; and
    # even where a newline was added after the cut, the value's missing digits give it away.
    four = [",".join(line.split(",")[:4]) for line in lines[:-1]] + [cut]
    expected = {
        False: rf"line {DAY + 1}: last line is cut short: its last field '{cells[3][:5]}' is shorter than any",
        True: rf"line {DAY + 1}: last line looks cut: sum_open_interest_value {cells[3][:5]} has too few digits",
    }
    for final_newline, problem in expected.items():
        path4 = write(tmp_path / "BTCUSDT-metrics-4col.csv", four, final_newline=final_newline)
        for read in (read_market_file, read_metrics_columns):
            with pytest.raises(DumpFormatError, match=problem):
                read(path4)
    before = counts()
    output = refused(path4, "--simulated-oi")
    assert f"{path4} line {DAY + 1}: last line looks cut" in output
    assert counts() == before


def test_every_cut_of_a_kline_files_last_line_is_refused_and_an_intact_file_without_newline_is_not(
    btc: Asset, tmp_path: Path
) -> None:
    lines = kline_lines("BTCUSDT", DEC_27, 24)
    last = lines[-1]
    for keep in range(1, len(last)):
        path = write(
            tmp_path / "BTCUSDT-5m-2025-12-27.csv", [KLINE_HEADER, *lines[:-1], last[:keep]], final_newline=False
        )
        for read in (read_market_file, read_kline_columns):
            with pytest.raises(DumpFormatError) as info:
                read(path)
            assert info.value.line == 25, (keep, str(info.value))
            assert "last line" in info.value.problem, (keep, str(info.value))
    intact = write(tmp_path / "BTCUSDT-5m-2025-12-27.csv", [KLINE_HEADER, *lines], final_newline=False)
    assert len(read_kline_columns(intact).close) == 24
    assert "24 rows read, 24 new or changed" in imported(intact)


# ------------------------------------------------------------------ damaged ZIP archives


def zipped(path: Path, member: str, lines: list[str]) -> bytes:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, "\n".join(lines) + "\n")
    return path.read_bytes()


@pytest.mark.parametrize("damage", ["truncated", "flipped byte"])
def test_a_damaged_zip_is_named_as_such_by_both_readers(btc: Asset, tmp_path: Path, damage: str) -> None:
    archive = tmp_path / "BTCUSDT-5m-2025-12-27.zip"
    data = zipped(archive, "BTCUSDT-5m-2025-12-27.csv", [KLINE_HEADER, *kline_lines("BTCUSDT", DEC_27, DAY)])
    if damage == "truncated":
        archive.write_bytes(data[: len(data) * 2 // 3])
    else:
        broken = bytearray(data)
        broken[len(data) // 3] ^= 0xFF  # inside the compressed stream
        archive.write_bytes(bytes(broken))
    for read in (read_market_file, read_kline_columns):
        with pytest.raises(DumpFormatError) as info:
            read(str(archive))
        assert str(info.value).startswith(f"{archive}: damaged ZIP archive"), str(info.value)
    before = counts()
    assert f"{archive}: damaged ZIP archive" in refused(str(archive))
    assert counts() == before


# ------------------------------------------------------------------ duplicates


def test_dropped_duplicate_lines_are_counted_in_the_summary(btc: Asset, tmp_path: Path) -> None:
    lines = kline_lines("BTCUSDT", DEC_27, 48)
    path = write(tmp_path / "BTCUSDT-5m-2025-12-27.csv", [KLINE_HEADER, *lines, *lines[10:13], lines[40]])
    result = import_market_file(path)
    assert (result.rows_read, result.duplicates, result.rows_written) == (48, 4, 48)
    output = imported(path)
    assert "48 rows read, 0 new or changed, 4 duplicate lines dropped" in output
    assert "duplicates dropped" in output  # the summary table's column


# ------------------------------------------------------------------ provenance of open interest


def test_reimporting_simulated_open_interest_without_the_flag_keeps_its_label(btc: Asset, tmp_path: Path) -> None:
    path = write(tmp_path / "BTCUSDT-metrics-2025-12-27.csv", metrics_lines("BTCUSDT", "2025-12-27 00:05:00", DAY))
    imported(path, "--simulated-oi")
    rows = stored_oi()
    assert len(rows) == DAY and all(r[3] for r in rows)
    assert f"{DAY} rows read, 0 new or changed" in imported(path)
    assert stored_oi() == rows


def test_changed_open_interest_under_the_other_label_needs_replace(btc: Asset, tmp_path: Path) -> None:
    lines = metrics_lines("BTCUSDT", "2025-12-27 00:05:00", DAY)
    imported(write(tmp_path / "BTCUSDT-metrics-2025-12-27.csv", lines), "--simulated-oi")
    simulated = stored_oi()
    changed = list(lines)
    for i in (50, 51, 200):  # three rows with other figures, as a real dump would have
        cells = changed[i].split(",")
        cells[3] = f"{float(cells[3]) * 1.01:.2f}"
        changed[i] = ",".join(cells)
    path = write(tmp_path / "BTCUSDT-metrics-2025-12-27-real.csv", changed)
    output = refused(path)
    assert f"{path} line 51: open interest at" in output and "labelled simulated" in output
    assert "relabel 3 row(s) as market data" in output and "--replace" in output
    assert stored_oi() == simulated
    output = imported(path, "--replace")
    assert "3 new or changed, 3 rows changed label (--replace)" in output
    after = stored_oi()
    relabelled = [r for r in after if not r[3]]
    assert [r[0] for r in relabelled] == [simulated[i - 1][0] for i in (50, 51, 200)]
    assert sum(r[3] for r in after) == DAY - 3  # the identical rows stay labelled simulated


def test_metrics_import_refreshes_the_open_interest_flags_inside_its_transaction(
    btc: Asset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from heatmaps.marketdata import oi_flags

    calls: list[tuple[int, int, bool, int]] = []
    real = oi_flags.open_interest_flags_refresh

    def recording(**kwargs: Any) -> int:
        stored = OpenInterest.objects.filter(asset=kwargs["asset"]).count()
        calls.append((kwargs["start_ms"], kwargs["end_ms"], connection.in_atomic_block, stored))
        return real(**kwargs)

    monkeypatch.setattr(oi_flags, "open_interest_flags_refresh", recording)
    path = write(tmp_path / "BTCUSDT-metrics-2025-12-27.csv", metrics_lines("BTCUSDT", "2025-12-27 00:05:00", 12))
    import_market_file(path, simulated_oi=True)
    first, last = datetime(2025, 12, 27, 0, 5, tzinfo=UTC), datetime(2025, 12, 27, 1, 0, tzinfo=UTC)
    assert calls == [(int(first.timestamp() * 1000), int(last.timestamp() * 1000), True, 12)]


# ------------------------------------------------------------------ the command in its own process


def test_the_command_reports_a_cut_file_and_exits_non_zero(tmp_path: Path) -> None:
    lines = metrics_lines("BTCUSDT", "2025-12-27 00:05:00", 24)
    cells = lines[-1].split(",")
    path = write(
        tmp_path / "BTCUSDT-metrics-2025-12-27.csv",
        [*lines[:-1], ",".join([*cells[:3], cells[3][:5]])],
        final_newline=False,
    )
    db = connection.settings_dict
    url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url}
    result = subprocess.run(
        [sys.executable, "manage.py", "import_market_data", path, "--asset", "BTCUSDT", "--simulated-oi"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert f"{path} line 25: last line is cut short: 4 of 8 columns" in result.stderr
    assert "1 of 1 file(s) failed" in result.stderr

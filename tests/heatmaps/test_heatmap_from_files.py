"""heatmap_from_files: Binance dump files in, the spec's arrays out, no database."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from heatmaps import engine

DATA = Path(__file__).resolve().parent / "engine" / "data"
KLINE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore"
)


def read_sample() -> tuple[list[list[str]], list[list[str]]]:
    with (DATA / "BTCUSDT-5m.csv").open() as f:
        candles = list(csv.reader(f))[1:]
    with (DATA / "BTCUSDT-metrics-5m-SIMULATED.csv").open() as f:
        metrics = list(csv.reader(f))
    return candles, metrics


def kline_line(row: list[str], i: int) -> str:
    t = int(row[0])
    volume = float(row[6])
    taker = round(volume * (0.3 + 0.4 * ((i * 37) % 11) / 10), 3)  # a varying taker-buy share
    return f"{t},{row[2]},{row[3]},{row[4]},{row[5]},{volume},{t + 299_999},0,0,{taker},0,0"


@pytest.fixture
def dump_files(tmp_path: Path) -> tuple[list[str], list[str]]:
    candles, metrics = read_sample()
    lines = [kline_line(r, i) for i, r in enumerate(candles)]
    day1 = tmp_path / "BTCUSDT-5m-2026-01-20.csv"
    day1.write_text("\n".join([KLINE_HEADER, *lines[:288]]) + "\n")
    for n, chunk in ((21, lines[288:576]), (22, lines[576:])):
        with zipfile.ZipFile(tmp_path / f"BTCUSDT-5m-2026-01-{n}.zip", "w") as zf:
            zf.writestr(f"BTCUSDT-5m-2026-01-{n}.csv", "\n".join(chunk) + "\n")  # old-style: no header
    header, body = metrics[0], metrics[1:]
    first = tmp_path / "BTCUSDT-metrics-a.csv"
    second = tmp_path / "BTCUSDT-metrics-b.csv"
    # The metrics dumps are not always sorted and may repeat rows.
    first.write_text("\n".join(",".join(r) for r in [header, *reversed(body[:400]), body[10]]) + "\n")
    second.write_text("\n".join(",".join(r) for r in [header, *body[400:]]) + "\n")
    return [str(day1), str(tmp_path / "BTCUSDT-5m-2026-01-2[12].zip")], [str(first), str(second)]


def expected_bars() -> engine.BaseBars:
    candles, metrics = read_sample()
    oi = {
        int(datetime.strptime(r[0], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp() * 1000): float(r[3])
        for r in metrics[1:]
    }
    t = np.array([int(r[0]) for r in candles], dtype=np.int64)
    volume = np.array([float(r[6]) for r in candles])
    taker = np.array([float(kline_line(r, i).split(",")[9]) for i, r in enumerate(candles)])
    return engine.BaseBars(
        open_time=t,
        high=np.array([float(r[3]) for r in candles]),
        low=np.array([float(r[4]) for r in candles]),
        close=np.array([float(r[5]) for r in candles]),
        volume=volume,
        taker_buy=taker,
        oi_value=np.array([oi.get(int(x) + 300_000, np.nan) for x in t]),
    )


@pytest.mark.parametrize("timeframe", ["12h", "24h", "3d"])
def test_matches_engine_on_the_same_bars(
    dump_files: tuple[list[str], list[str]], tmp_path: Path, timeframe: str
) -> None:
    klines, metrics = dump_files
    out = tmp_path / "map.npz"
    args = ["--klines", klines[0], "--klines", klines[1], "--metrics", metrics[0], "--metrics", metrics[1]]
    call_command(
        "heatmap_from_files", *args, "--timeframe", timeframe, "--out", str(out), "--bins", "200", "--pad", "0.05",
        "--tiers", "10:0.5,25:0.3,50:0.2", "--mmr", "0.005", stdout=io.StringIO(),
    )  # fmt: skip
    params = engine.ModelParams(tiers=((10, 0.5), (25, 0.3), (50, 0.2)), mmr=0.005, n_bins=200, pad=0.05)
    want = engine.compute_heatmap(bars=expected_bars(), timeframe=timeframe, params=params)
    with np.load(out) as got:
        assert sorted(got.files) == ["close", "long", "prices", "short", "times"]
        assert got["times"].dtype == np.int64 and got["long"].dtype == np.float64
        assert got["long"].shape == (engine.TIMEFRAMES[timeframe].columns, 200)
        np.testing.assert_array_equal(got["times"], want.times)
        np.testing.assert_array_equal(got["close"], want.close)
        np.testing.assert_allclose(got["prices"], want.prices, rtol=0, atol=1e-9)
        scale = max(want.long.max(), want.short.max())
        assert scale > 0
        np.testing.assert_allclose(got["long"], want.long, rtol=0, atol=1e-9 * scale)
        np.testing.assert_allclose(got["short"], want.short, rtol=0, atol=1e-9 * scale)


def test_bad_file_names_file_and_line(dump_files: tuple[list[str], list[str]], tmp_path: Path) -> None:
    klines, metrics = dump_files
    broken = Path(klines[0]).read_text().splitlines()
    broken[5] = broken[5].replace(",", ";", 2)
    bad = tmp_path / "BTCUSDT-5m-bad.csv"
    bad.write_text("\n".join(broken) + "\n")
    with pytest.raises(CommandError, match=rf"{bad} line 6: expected 12 kline columns"):
        call_command(
            "heatmap_from_files",
            "--klines",
            str(bad),
            "--metrics",
            metrics[0],
            "--timeframe",
            "12h",
            "--out",
            str(tmp_path / "x.npz"),
        )
    with pytest.raises(CommandError, match="expected a Binance metrics dump, this is a klines file"):
        call_command(
            "heatmap_from_files",
            "--klines",
            klines[0],
            "--metrics",
            klines[0],
            "--timeframe",
            "12h",
            "--out",
            str(tmp_path / "x.npz"),
        )
    with pytest.raises(CommandError, match="bad model parameters"):
        call_command(
            "heatmap_from_files", "--klines", klines[0], "--metrics", metrics[0], "--timeframe", "12h",
            "--out", str(tmp_path / "x.npz"), "--tiers", "10:0.5",
        )  # fmt: skip
    with pytest.raises(CommandError, match="no file matches"):
        call_command(
            "heatmap_from_files",
            "--klines",
            str(tmp_path / "nothing-*.zip"),
            "--metrics",
            metrics[0],
            "--timeframe",
            "12h",
            "--out",
            "x.npz",
        )


def test_fast_reader_agrees_with_row_reader_and_falls_back(
    dump_files: tuple[list[str], list[str]], tmp_path: Path
) -> None:
    from heatmaps.marketdata import read_kline_columns, read_market_file, read_metrics_columns

    klines, metrics = dump_files
    fast = read_kline_columns(klines[0])
    slow = read_market_file(klines[0]).rows
    assert fast.open_time.tolist() == [r.open_time_ms for r in slow]  # type: ignore[union-attr]
    assert fast.taker_buy.tolist() == [r.taker_buy_volume for r in slow]  # type: ignore[union-attr]
    oi = read_metrics_columns(metrics[0])
    assert oi.time.tolist() == sorted(set(oi.time.tolist()))  # sorted, the repeated row dropped
    # An empty taker-buy cell is valid (old dumps): the fast parser cannot read it, the row reader can.
    lines = Path(klines[0]).read_text().splitlines()
    cells = lines[3].split(",")
    cells[9] = ""
    lines[3] = ",".join(cells)
    holey = tmp_path / "BTCUSDT-5m-holey.csv"
    holey.write_text("\n".join(lines) + "\n")
    columns = read_kline_columns(str(holey))
    assert np.isnan(columns.taker_buy[2]) and np.isfinite(np.delete(columns.taker_buy, 2)).all()


def _errors(path: Path, columns_reader: str) -> tuple[str, str]:
    """The message of the columnar reader and of the row reader for the same damaged file."""
    from heatmaps.marketdata import DumpFormatError, dumpcolumns, read_market_file

    with pytest.raises(DumpFormatError) as fast:
        getattr(dumpcolumns, columns_reader)(str(path))
    with pytest.raises(DumpFormatError) as rows:
        read_market_file(str(path))
    return str(fast.value), str(rows.value)


def test_a_cut_last_line_is_refused_alike_by_both_readers(
    dump_files: tuple[list[str], list[str]], tmp_path: Path
) -> None:
    klines, metrics = dump_files
    lines = Path(klines[0]).read_text().splitlines()
    last = lines[-1].split(",")
    damaged: dict[str, tuple[str, str]] = {
        # Digits lost from the open interest value: the row still parses and passes every value check.
        "metrics value": (
            "\n".join([*Path(metrics[1]).read_text().splitlines()[:-1], "2026-01-22 23:55:00,BTCUSDT,81234.5,7946"])
            + "\n",
            "read_metrics_columns",
        ),
        # A whole candle written with too few digits: consistent in itself, far below every other line.
        "kline prices": (
            "\n".join([*lines[:-1], ",".join([last[0], "9.1", "9.2", "9.0", "9.1", *last[5:]])]) + "\n",
            "read_kline_columns",
        ),
        # The write stopped inside the last line: no final newline, columns missing.
        "no newline, columns missing": ("\n".join([*lines[:-1], ",".join(last[:7])]), "read_kline_columns"),
        # No final newline and a last field shorter than any other line's.
        "no newline, short field": ("\n".join([*lines[:-1], ",".join([*last[:11], ""])]), "read_kline_columns"),
    }
    for label, (text, reader) in damaged.items():
        path = tmp_path / f"BTCUSDT-{'metrics' if 'metrics' in reader else '5m'}-{label.replace(' ', '_')}.csv"
        path.write_text(text)
        fast, rows = _errors(path, reader)
        assert fast == rows, label
        assert f"line {len(text.rstrip(chr(10)).splitlines())}:" in fast and "cut" in fast, label


def test_sound_files_skip_the_line_by_line_check(
    dump_files: tuple[list[str], list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from heatmaps.marketdata import dumpcolumns

    calls: list[str] = []

    def spy(name: str, text: str) -> None:
        calls.append(name)

    monkeypatch.setattr(dumpcolumns, "check_last_line", spy)
    klines, metrics = dump_files
    dumpcolumns.read_kline_columns(klines[0])  # header, final newline, every line a row
    dumpcolumns.read_metrics_columns(metrics[1])
    assert calls == []
    # Without a final newline the columns cannot tell a cut line: the line-by-line check runs.
    no_newline = tmp_path / "BTCUSDT-5m-open.csv"
    no_newline.write_text(Path(klines[0]).read_text().rstrip("\n"))
    dumpcolumns.read_kline_columns(str(no_newline))
    assert calls == [str(no_newline)]


def test_rows_of_other_widths_are_refused_alike_by_both_readers(
    dump_files: tuple[list[str], list[str]], tmp_path: Path
) -> None:
    klines, _ = dump_files
    lines = Path(klines[0]).read_text().splitlines()
    # One row a column too long and the next a column too short: the comma count of the file is right.
    lines[5] = lines[5] + ",0"
    lines[6] = lines[6].rsplit(",", 1)[0]
    path = tmp_path / "BTCUSDT-5m-widths.csv"
    path.write_text("\n".join(lines) + "\n")
    fast, rows = _errors(path, "read_kline_columns")
    assert fast == rows
    assert "line 6: expected 12 kline columns" in fast

"""Fast, columnar reading of large Binance kline and metrics dumps into numpy arrays.

`read_market_file` validates row by row and builds one object per row: right for imports, too slow for
two years of files (~10 µs a row). Here numpy's C parser reads whole files and the same checks run
vectorised over columns. When anything is off, the file is re-read by `read_market_file`, whose
row-by-row checks name the exact line and problem, so both paths report errors identically. Both read
the text through `read_text`, which refuses a damaged ZIP; a cut last line is judged on the parsed
columns (`_last_line_checked`), and only a file they cannot vouch for goes through the line-by-line
`check_last_line`, which then names the line exactly as the row reader would.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from heatmaps.marketdata.dumpfiles import (
    _CUT_FACTOR,
    _TAIL_SAMPLE,
    KLINE_COLUMNS,
    METRICS_PREFIX,
    DumpFormatError,
    check_last_line,
    read_market_file,
    read_text,
)
from heatmaps.rows import BASE_BAR_MS, CandleRow, OpenInterestRow

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class KlineColumns:
    open_time: IntArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    taker_buy: FloatArray


@dataclass(frozen=True)
class MetricsColumns:
    time: IntArray  # create_time, ms
    oi_value: FloatArray  # NaN where empty


def _text(path: str) -> tuple[str, str, str]:
    """The display name, the CSV text and its first line; the last line is not checked yet."""
    name, text = read_text(path, check_last=False)
    first = text.split("\n", 1)[0].strip()
    if not first:
        check_last_line(name, text)
        raise ValueError("empty")
    return name, text, first


def _last_line_checked(name: str, text: str, rows: int, header: bool, whole: list[FloatArray]) -> None:
    """``check_last_line`` for a file parsed into ``rows`` rows, whose ``whole`` columns (timestamps,
    prices, open interest) are given: refuses exactly the files it refuses.

    When every line is a row under a header and the text ends in a newline, the check's only test is
    whether the last value of a whole column is more than ``_CUT_FACTOR`` times smaller than every
    value in the 500 rows before it, which the columns answer at once. Any other file (no header, no
    final newline, blank lines) and any file that may fail goes through ``check_last_line`` itself.
    """
    lines = text.count("\n")
    if not (header and text.endswith("\n") and lines == rows + 1):
        check_last_line(name, text)
        return
    if rows < 4:  # fewer than three rows before the last: never judged
        return
    for column in whole:
        last = float(column[-1])
        lowest = float(column[-_TAIL_SAMPLE - 1 : -1].min())
        if last > 0 and lowest > 0 and last * _CUT_FACTOR < lowest:
            check_last_line(name, text)  # raises, naming the line and the column
            return


def _dedupe_sorted(times: IntArray, *columns: FloatArray) -> tuple[IntArray, list[FloatArray]]:
    if times.size < 2 or bool(np.all(times[1:] > times[:-1])):
        return times, list(columns)  # the usual file: in order, no repeats, nothing to copy
    order = np.argsort(times, kind="stable")
    times = times[order]
    cols = [c[order] for c in columns]
    keep = np.ones(times.size, dtype=bool)
    same = times[1:] == times[:-1]
    if same.any():
        for c in cols:
            a, b = c[1:][same], c[:-1][same]
            if not np.all((a == b) | (np.isnan(a) & np.isnan(b))):
                raise ValueError("conflicting duplicate")
        keep[1:][same] = False
    return times[keep], [c[keep] for c in cols]


_KLINE_USED = (0, 1, 2, 3, 4, 5, 6, 7, 9, 11)  # of the 12 kline columns, the ones converted


def _klines(path: str) -> KlineColumns:
    name, text, first = _text(path)
    cells = first.split(",")
    if [c.strip().lower() for c in cells] == KLINE_COLUMNS:
        skip = 1
    elif len(cells) == 12 and cells[0].strip().isdigit():
        skip = 0
    else:
        raise ValueError("not klines")
    # numpy's C parser: ~10x faster than the csv module for these all-numeric rows. The trade count
    # and the taker-buy quote volume are neither used nor checked by the row reader, so they are not
    # converted; reading the last column and counting the commas still holds every row to 12 columns.
    table = np.loadtxt(io.StringIO(text), delimiter=",", skiprows=skip, dtype=np.float64, ndmin=2, usecols=_KLINE_USED)
    if table.shape[0] == 0 or text.count(",") != 11 * (table.shape[0] + skip):
        raise ValueError("column count")
    open_time = table[:, 0].astype(np.int64)
    close_time = table[:, 6].astype(np.int64)
    if open_time.max() > 10**14:  # microsecond stamps in some newer dumps
        open_time //= 1000
        close_time //= 1000
    o, h, lo, c, v, tb = (table[:, i] for i in (1, 2, 3, 4, 5, _KLINE_USED.index(9)))
    ok = (
        np.all(table[:, 0] == np.floor(table[:, 0]))
        and np.all(open_time % BASE_BAR_MS == 0)
        and np.all(close_time - open_time == BASE_BAR_MS - 1)
        and np.all(np.isfinite(table[:, :6]))
        and np.all((lo <= np.minimum(o, c)) & (h >= np.maximum(o, c)) & (lo > 0) & (v >= 0))
        and not np.any(tb < 0)
        and not np.any(tb > v * (1 + 1e-9))
    )
    if not ok:
        raise ValueError("invalid values")
    _last_line_checked(name, text, table.shape[0], skip == 1, [table[:, j] for j in (0, 1, 2, 3, 4, 6)])
    t, (h, lo, c, v, tb) = _dedupe_sorted(open_time, h, lo, c, v, tb)
    return KlineColumns(open_time=t, high=h, low=lo, close=c, volume=v, taker_buy=tb)


_METRICS_DTYPE = [("time", "M8[s]"), ("symbol", "U40"), ("oi_base", "f8"), ("oi_value", "f8")]


def _metrics(path: str) -> MetricsColumns:
    name, text, first = _text(path)
    if [c.strip().lower() for c in first.split(",")[:4]] != METRICS_PREFIX:
        raise ValueError("not metrics")
    table = np.loadtxt(
        io.StringIO(text), delimiter=",", skiprows=1, usecols=(0, 1, 2, 3), dtype=_METRICS_DTYPE, ndmin=1
    )
    if table.size == 0 or np.any(table["symbol"] != table["symbol"][0]):
        raise ValueError("empty or mixed symbols")
    oi_base, oi_value = table["oi_base"], table["oi_value"]
    if not (np.all(np.isfinite(oi_value)) and np.all(oi_value >= 0) and np.all(oi_base >= 0)):
        raise ValueError("invalid values")
    _last_line_checked(name, text, table.size, True, [oi_base, oi_value])
    times = table["time"].astype("M8[ms]").astype(np.int64)
    t, (value,) = _dedupe_sorted(times, oi_value)
    return MetricsColumns(time=t, oi_value=value)


def _from_rows(path: str, expected: str) -> KlineColumns | MetricsColumns:
    """The row-by-row reader: names the exact line of any problem, and reads valid files the fast path
    cannot (empty optional cells)."""
    parsed = read_market_file(path)
    if parsed.kind != expected:
        raise DumpFormatError(path, None, f"expected a Binance {expected} dump, this is a {parsed.kind} file")
    nan = float("nan")
    if expected == "klines":
        rows = [r for r in parsed.rows if isinstance(r, CandleRow)]
        return KlineColumns(
            open_time=np.array([r.open_time_ms for r in rows], dtype=np.int64),
            high=np.array([r.high for r in rows]),
            low=np.array([r.low for r in rows]),
            close=np.array([r.close for r in rows]),
            volume=np.array([nan if r.volume is None else r.volume for r in rows]),
            taker_buy=np.array([nan if r.taker_buy_volume is None else r.taker_buy_volume for r in rows]),
        )
    oi = [r for r in parsed.rows if isinstance(r, OpenInterestRow)]
    return MetricsColumns(
        time=np.array([r.time_ms for r in oi], dtype=np.int64),
        oi_value=np.array([nan if r.oi_value is None else r.oi_value for r in oi]),
    )


def read_kline_columns(path: str) -> KlineColumns:
    try:
        return _klines(path)
    except DumpFormatError:
        raise  # a damaged ZIP or a cut last line: already named, no second reading can help
    except (ValueError, TypeError):
        result = _from_rows(path, "klines")
        assert isinstance(result, KlineColumns)
        return result


def read_metrics_columns(path: str) -> MetricsColumns:
    try:
        return _metrics(path)
    except DumpFormatError:
        raise  # a damaged ZIP or a cut last line: already named, no second reading can help
    except (ValueError, TypeError):
        result = _from_rows(path, "metrics")
        assert isinstance(result, MetricsColumns)
        return result


__all__ = ["KlineColumns", "MetricsColumns", "read_kline_columns", "read_metrics_columns"]

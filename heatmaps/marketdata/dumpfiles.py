"""Readers for market-data files: Binance's public dump files (CSV or the ZIP they ship in) and the
plain OHLCV/funding CSV of the bundled sample data.

The format is detected from the content (header line or column count), not the file name. A malformed
file raises `DumpFormatError` naming the file, the line and the problem; nothing is returned partially.
No Django here: rows in `heatmaps.rows` come out.
"""

from __future__ import annotations

import csv
import io
import math
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from heatmaps.rows import BASE_BAR_MS, CandleRow, FundingRow, OpenInterestRow

Kind = Literal["klines", "ohlcv", "metrics", "funding"]
Row = CandleRow | OpenInterestRow | FundingRow

KLINE_COLUMNS = [
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
]
METRICS_PREFIX = ["create_time", "symbol", "sum_open_interest", "sum_open_interest_value"]
FUNDING_DUMP_COLUMNS = ["calc_time", "funding_interval_hours", "last_funding_rate"]
OHLCV_COLUMNS = ["open_time_ms", "open_time_utc", "open", "high", "low", "close", "volume"]
FUNDING_PLAIN_COLUMNS = ["open_time_ms", "open_time_utc", "funding_rate"]

_SYMBOL_IN_NAME = re.compile(r"^(?=[A-Z0-9]{0,31}[A-Z])([A-Z0-9]{2,32})-")  # a date alone is no symbol


class DumpFormatError(ValueError):
    def __init__(self, path: str, line: int | None, problem: str) -> None:
        self.path, self.line, self.problem = path, line, problem
        where = f"{path} line {line}" if line is not None else path
        super().__init__(f"{where}: {problem}")


@dataclass
class ParsedFile:
    path: str
    kind: Kind
    symbol: str | None
    rows: list[Row] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # the file line of each row
    duplicates: int = 0  # lines dropped as exact repeats of an earlier line

    @property
    def first_ms(self) -> int | None:
        return _row_time(self.rows[0]) if self.rows else None

    @property
    def last_ms(self) -> int | None:
        return _row_time(self.rows[-1]) if self.rows else None


def _row_time(row: Row) -> int:
    return row.open_time_ms if isinstance(row, CandleRow) else row.time_ms


def symbol_from_filename(path: str) -> str | None:
    match = _SYMBOL_IN_NAME.match(Path(path).name)
    return match.group(1) if match else None


def _looks_like_zip(path: str, head: bytes) -> bool:
    return head[:2] == b"PK" or path.lower().endswith(".zip")


def read_text(path: str, *, check_last: bool = True) -> tuple[str, str]:
    """Return a display name and the CSV's text, unpacking a ZIP with one CSV inside.

    A ZIP that is cut short or damaged is reported as such: read as text, its compressed bytes would
    otherwise surface as a puzzling text-encoding or zlib error. ``check_last=False`` leaves the
    last-line check (``check_last_line``) to a caller that runs it on columns it has parsed anyway.
    """
    try:
        raw = Path(path).read_bytes()  # once: two years of daily dumps are hundreds of small files
    except OSError as exc:
        raise DumpFormatError(path, None, f"cannot read file: {exc}") from None
    if not _looks_like_zip(path, raw[:4]):
        data = raw
        name = path
    else:
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
                members = [n for n in archive.namelist() if n.lower().endswith(".csv")]
                if len(members) != 1:
                    raise DumpFormatError(path, None, f"expected one CSV inside the ZIP, found {len(members)}")
                data = archive.read(members[0])
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError, OSError) as exc:
            if isinstance(exc, DumpFormatError):
                raise
            raise DumpFormatError(path, None, f"damaged ZIP archive (truncated or corrupt: {exc})") from None
        name = f"{path}!{members[0]}"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DumpFormatError(path, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if check_last:
        check_last_line(name, text)
    return name, text


# Columns whose values never shrink tenfold within a file: timestamps, prices, open interest. A last
# line whose value in one of them is far below every other line's was cut short (79463 for 7.95e9).
_WHOLE_COLUMNS: list[tuple[list[str], dict[int, str]]] = [
    (KLINE_COLUMNS, {0: "open_time", 1: "open", 2: "high", 3: "low", 4: "close", 6: "close_time"}),
    (OHLCV_COLUMNS, {0: "open_time_ms", 2: "open", 3: "high", 4: "low", 5: "close"}),
    (METRICS_PREFIX, {2: "sum_open_interest", 3: "sum_open_interest_value"}),
    (FUNDING_DUMP_COLUMNS, {0: "calc_time"}),
    (FUNDING_PLAIN_COLUMNS, {0: "open_time_ms"}),
]
_TAIL_SAMPLE = 500  # lines before the last one that stand for "the rest of the file"
_CUT_FACTOR = 8.0


def _whole_columns(first_line: str) -> dict[int, str]:
    header = [c.strip().lower() for c in first_line.split(",")]
    for columns, whole in _WHOLE_COLUMNS:
        if header[: len(columns)] == columns and (columns is METRICS_PREFIX or len(header) == len(columns)):
            return whole
    if len(header) == 12 and header[0].isdigit():
        return _WHOLE_COLUMNS[0][1]  # klines without a header
    return {}


def _float_or_none(cell: str) -> float | None:
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def check_last_line(name: str, text: str) -> None:
    """Refuse a file whose last line was cut short, naming that line.

    Cut means: without a final newline, fewer columns than the lines before it or a last field shorter
    than that column ever is; or, newline or not, a timestamp, price or open interest more than
    eight times smaller than the same column anywhere in the preceding lines (digits missing).
    """
    body = text.rstrip("\r\n")
    if not body:
        return
    pieces = body.rsplit("\n", _TAIL_SAMPLE + 1)
    line_no = body.count("\n") + 1
    last = pieces[-1].rstrip("\r").split(",")
    before = pieces[1:-1] if len(pieces) == _TAIL_SAMPLE + 2 else pieces[:-1]
    first_line = text.split("\n", 1)[0].lstrip("\ufeff")
    sample = [p.rstrip("\r").split(",") for p in before if p.strip() and p != first_line]
    if len(sample) < 3:
        return
    usual = max(len(cells) for cells in sample)
    if not text.endswith("\n"):
        if len(last) < usual:
            raise DumpFormatError(
                name, line_no, f"last line is cut short: {len(last)} of {usual} columns and no final newline"
            )
        j = len(last) - 1
        shortest = min(len(cells[j].strip()) for cells in sample if len(cells) > j)
        if len(last[j].strip()) < shortest:
            raise DumpFormatError(
                name,
                line_no,
                f"last line is cut short: its last field {last[j].strip()!r} is shorter than any other line's "
                f"({shortest} characters) and there is no final newline",
            )
    for j, column in _whole_columns(first_line).items():
        value = _float_or_none(last[j]) if j < len(last) else None
        others = [v for cells in sample if len(cells) > j and (v := _float_or_none(cells[j])) is not None]
        if value is None or len(others) < 3 or value <= 0:
            continue
        lowest = min(others)
        if lowest > 0 and value * _CUT_FACTOR < lowest:
            raise DumpFormatError(
                name,
                line_no,
                f"last line looks cut: {column} {last[j].strip()} has too few digits for its column "
                f"(the other lines: {lowest:g} to {max(others):g})",
            )


def _open_text(path: str) -> tuple[str, Iterator[str]]:
    name, text = read_text(path)
    return name, iter(io.StringIO(text))


def _number(cell: str, name: str, path: str, line: int, *, optional: bool = False) -> float | None:
    cell = cell.strip()
    if cell == "":
        if optional:
            return None
        raise DumpFormatError(path, line, f"{name} is empty")
    try:
        value = float(cell)
    except ValueError:
        raise DumpFormatError(path, line, f"{name} {cell!r} is not a number") from None
    if not math.isfinite(value):
        raise DumpFormatError(path, line, f"{name} {cell!r} is not a finite number")
    return value


def _required(cell: str, name: str, path: str, line: int) -> float:
    value = _number(cell, name, path, line)
    assert value is not None
    return value


def _ms(cell: str, name: str, path: str, line: int) -> int:
    cell = cell.strip()
    if not cell.isdigit():
        raise DumpFormatError(path, line, f"{name} {cell!r} is not a timestamp in milliseconds")
    value = int(cell)
    if value > 10**14:  # some newer dumps stamp in microseconds
        value //= 1000
    if not 946_684_800_000 <= value <= 4_102_444_800_000:  # 2000-01-01 .. 2100-01-01
        raise DumpFormatError(path, line, f"{name} {cell!r} is outside the years 2000-2100")
    return value


def _utc_text_ms(cell: str, path: str, line: int) -> int:
    text = cell.strip()
    try:
        if len(text) != 19 or text[10] != " ":
            raise ValueError
        parsed = datetime.fromisoformat(text)  # C-speed; the dumps hold hundreds of thousands of these
    except ValueError:
        raise DumpFormatError(path, line, f"create_time {cell!r} is not 'YYYY-MM-DD HH:MM:SS'") from None
    return int(parsed.replace(tzinfo=UTC).timestamp()) * 1000


def _check_candle(row: CandleRow, path: str, line: int) -> None:
    if row.open_time_ms % BASE_BAR_MS:
        raise DumpFormatError(path, line, "open time is not on a 5-minute boundary (only 5m bars are imported)")
    if not (row.low <= min(row.open, row.close) and row.high >= max(row.open, row.close) and row.low > 0):
        raise DumpFormatError(path, line, "inconsistent candle (need 0 < low <= open, close <= high)")
    for name in ("volume", "taker_buy_volume", "quote_volume"):
        value = getattr(row, name)
        if value is not None and value < 0:
            raise DumpFormatError(path, line, f"{name} is negative")
    if row.volume is not None and row.taker_buy_volume is not None and row.taker_buy_volume > row.volume * (1 + 1e-9):
        raise DumpFormatError(path, line, "taker_buy_volume exceeds volume")


def _parse_kline(cells: list[str], path: str, line: int) -> CandleRow:
    if len(cells) != 12:
        raise DumpFormatError(path, line, f"expected 12 kline columns, found {len(cells)}")
    open_ms = _ms(cells[0], "open_time", path, line)
    close_ms = _ms(cells[6], "close_time", path, line)
    if close_ms - open_ms != BASE_BAR_MS - 1:
        raise DumpFormatError(path, line, "not a 5m kline (close_time must be open_time + 299999 ms)")
    row = CandleRow(
        open_time_ms=open_ms,
        open=_required(cells[1], "open", path, line),
        high=_required(cells[2], "high", path, line),
        low=_required(cells[3], "low", path, line),
        close=_required(cells[4], "close", path, line),
        volume=_number(cells[5], "volume", path, line),
        quote_volume=_number(cells[7], "quote_volume", path, line, optional=True),
        taker_buy_volume=_number(cells[9], "taker_buy_volume", path, line, optional=True),
    )
    _check_candle(row, path, line)
    return row


def _parse_ohlcv(cells: list[str], path: str, line: int) -> CandleRow:
    if len(cells) != 7:
        raise DumpFormatError(path, line, f"expected 7 OHLCV columns, found {len(cells)}")
    row = CandleRow(
        open_time_ms=_ms(cells[0], "open_time_ms", path, line),
        open=_required(cells[2], "open", path, line),
        high=_required(cells[3], "high", path, line),
        low=_required(cells[4], "low", path, line),
        close=_required(cells[5], "close", path, line),
        volume=_number(cells[6], "volume", path, line, optional=True),
    )
    _check_candle(row, path, line)
    return row


def _parse_metrics(cells: list[str], path: str, line: int) -> OpenInterestRow:
    if len(cells) < 4:
        raise DumpFormatError(path, line, f"expected at least 4 metrics columns, found {len(cells)}")
    oi_base = _number(cells[2], "sum_open_interest", path, line, optional=True)
    oi_value = _number(cells[3], "sum_open_interest_value", path, line, optional=True)
    if oi_value is None and oi_base is None:
        raise DumpFormatError(path, line, "both sum_open_interest and sum_open_interest_value are empty")
    if (oi_value or 0) < 0 or (oi_base or 0) < 0:
        raise DumpFormatError(path, line, "open interest is negative")
    return OpenInterestRow(time_ms=_utc_text_ms(cells[0], path, line), oi_base=oi_base, oi_value=oi_value)


def _parse_funding_dump(cells: list[str], path: str, line: int) -> FundingRow:
    if len(cells) != 3:
        raise DumpFormatError(path, line, f"expected 3 fundingRate columns, found {len(cells)}")
    return FundingRow(
        time_ms=_ms(cells[0], "calc_time", path, line), rate=_required(cells[2], "last_funding_rate", path, line)
    )


def _parse_funding_plain(cells: list[str], path: str, line: int) -> FundingRow:
    if len(cells) != 3:
        raise DumpFormatError(path, line, f"expected 3 funding columns, found {len(cells)}")
    return FundingRow(
        time_ms=_ms(cells[0], "open_time_ms", path, line), rate=_required(cells[2], "funding_rate", path, line)
    )


Parser = Callable[[list[str], str, int], Row]
_BY_HEADER: list[tuple[list[str], Kind, Parser]] = [
    (KLINE_COLUMNS, "klines", _parse_kline),
    (OHLCV_COLUMNS, "ohlcv", _parse_ohlcv),
    (FUNDING_DUMP_COLUMNS, "funding", _parse_funding_dump),
    (FUNDING_PLAIN_COLUMNS, "funding", _parse_funding_plain),
]


def _detect(first: list[str], path: str) -> tuple[Kind, Parser, bool]:
    """Return (kind, parser, first_line_is_header)."""
    header = [c.strip().lower() for c in first]
    if header[:4] == METRICS_PREFIX:
        return "metrics", _parse_metrics, True
    for columns, kind, parser in _BY_HEADER:
        if header == columns:
            return kind, parser, True
    if len(first) == 12 and first[0].strip().isdigit():
        return "klines", _parse_kline, False  # old and spot dumps ship without a header
    raise DumpFormatError(
        path,
        1,
        f"unrecognised format (first line {','.join(first)[:120]!r}); expected Binance klines, metrics or fundingRate, or the plain OHLCV CSV",
    )


def read_market_file(path: str) -> ParsedFile:
    """Parse one file completely. Rows come back sorted by time and de-duplicated."""
    name, lines = _open_text(path)
    reader = csv.reader(lines)
    try:
        first = next(reader)
    except StopIteration:
        raise DumpFormatError(name, None, "file is empty") from None
    except csv.Error as exc:
        raise DumpFormatError(name, 1, f"bad CSV: {exc}") from None
    kind, parser, has_header = _detect(first, name)
    symbol = symbol_from_filename(path)
    rows: dict[int, Row] = {}
    line_of: dict[int, int] = {}
    pending = [] if has_header else [(1, first)]
    duplicates = 0
    try:
        for line_no, cells in _numbered(pending, reader):
            if not cells or all(not c.strip() for c in cells):
                continue
            if kind == "metrics" and len(cells) > 1 and cells[1].strip():
                symbol = symbol or cells[1].strip()
                if cells[1].strip() != symbol:
                    raise DumpFormatError(name, line_no, f"symbol {cells[1].strip()!r} differs from {symbol!r}")
            row = parser(cells, name, line_no)
            t = _row_time(row)
            if t in rows:
                if rows[t] != row:
                    raise DumpFormatError(
                        name, line_no, f"conflicting duplicate of line {line_of[t]} for the same time"
                    )
                duplicates += 1
            rows[t] = row
            line_of.setdefault(t, line_no)
    except csv.Error as exc:
        raise DumpFormatError(name, reader.line_num, f"bad CSV: {exc}") from None
    if not rows:
        raise DumpFormatError(name, None, "file has no data rows")
    times = sorted(rows)
    return ParsedFile(
        path=name,
        kind=kind,
        symbol=symbol,
        rows=[rows[t] for t in times],
        lines=[line_of[t] for t in times],
        duplicates=duplicates,
    )


def _numbered(pending: list[tuple[int, list[str]]], reader: Iterator[list[str]]) -> Iterator[tuple[int, list[str]]]:
    yield from pending
    line_no = 1
    for cells in reader:
        line_no += 1
        yield line_no, cells

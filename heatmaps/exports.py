"""A stored map's grids as other clients want them: sparse triples, dense float32, the stored packed
form, CSV lines, a PNG.

Pure functions over numpy arrays (and Pillow for the picture); no Django. The colour scale is the one
static/heatmaps/heatmap.js draws with, stop for stop and rounding for rounding, so a PNG and the page
show a cell in the same colour for the same full-intensity USD.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import numpy as np
from PIL import Image, ImageDraw

from heatmaps.engine import FLOOR_RATIO, GRID_LEVELS

# Same stops as heatmap.js and .legend-bar in heatmap.css: background → purple → magenta → orange → pale yellow.
COLOUR_STOPS: tuple[tuple[float, tuple[int, int, int]], ...] = (
    (0.0, (13, 17, 23)),
    (0.2, (59, 15, 111)),
    (0.45, (140, 41, 129)),
    (0.7, (222, 73, 104)),
    (0.88, (254, 159, 109)),
    (1.0, (252, 253, 191)),
)
UP = (63, 185, 80)
DOWN = (248, 81, 73)
WICK_SHADE = (0, 0, 0)

Candle = Sequence[float | int | None] | None  # [bucket ms, open, high, low, close, volume] or None


def colour_lut() -> np.ndarray:
    """256 × RGB, as heatmap.js's buildLut (Math.round is floor(x + 0.5))."""
    lut = np.zeros((256, 3), dtype=np.uint8)
    for i in range(256):
        t = i / 255
        k = 1
        while k < len(COLOUR_STOPS) - 1 and COLOUR_STOPS[k][0] < t:
            k += 1
        (t0, a), (t1, b) = COLOUR_STOPS[k - 1], COLOUR_STOPS[k]
        f = (t - t0) / (t1 - t0)
        for c in range(3):
            lut[i, c] = math.floor(a[c] + (b[c] - a[c]) * f + 0.5)
    return lut


LUT = colour_lut()


def intensity_levels(values: np.ndarray, full_usd: float) -> np.ndarray:
    """0…255 per cell: USD relative to the full-intensity USD, clipped, rounded like the page."""
    if not full_usd > 0:
        return np.zeros(values.shape, dtype=np.uint8)
    scaled = np.floor(values.astype(np.float64) * (255.0 / full_usd) + 0.5)
    return np.clip(scaled, 0, 255).astype(np.uint8)


def whole_usd(grid: np.ndarray) -> np.ndarray:
    """Cells in whole dollars, as every export shows them (the stored grids are quantised to 0.011 % anyway)."""
    return np.rint(grid).astype(np.int64)


def sparse_cells(grid: np.ndarray, *, min_usd: float) -> list[list[int]]:
    """[time_index, price_index, usd] for each cell whose whole-dollar USD is above `min_usd`, time-major."""
    usd = whole_usd(grid)
    t, p = np.nonzero(usd > min_usd)
    return np.column_stack((t, p, usd[t, p])).tolist()


def dense_base64(grid: np.ndarray) -> str:
    """The grid as little-endian float32, time-major (row = time index, column = price index), base64."""
    return base64.b64encode(np.ascontiguousarray(grid, dtype="<f4").tobytes()).decode("ascii")


def packed_grid(blob: bytes, scale: float) -> dict[str, str | float | int]:
    """A grid in its stored form (engine/gridcodec.py), base64, with what a client needs to decode it:
    inflate (zlib), read uint16 little-endian codes of shape (width, bins), time-major; undo the delta
    coding with a running sum along time modulo 65 536; then code 0 is $0 and code c is
    scale × floor_ratio × exp((c − 1) / levels × ln(1 / floor_ratio)). Relaying the stored bytes costs
    nothing per request, and a year's map stays tens of kilobytes (static/heatmaps/mapdraw.js decodes it)."""
    return {
        "codec": "gridcodec-v1",
        "data": base64.b64encode(blob).decode("ascii"),
        "scale": scale,
        "floor_ratio": FLOOR_RATIO,
        "levels": GRID_LEVELS,
    }


def utc_text(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cells_csv(*, times: np.ndarray, prices: np.ndarray, sides: dict[str, np.ndarray], min_usd: float) -> Iterator[str]:
    """CSV lines: a header, then one row per cell where any of `sides` ("long"/"short") is above
    `min_usd`, time-major; one chunk per map column so a long map streams as it is written."""
    names = list(sides)
    yield ",".join(["time_utc", "price", *(f"{name}_usd" for name in names)]) + "\r\n"
    grids = [whole_usd(sides[name]) for name in names]
    prices_text = [repr(float(p)) for p in prices.tolist()]
    for t, ms in enumerate(times.tolist()):
        columns = [g[t] for g in grids]
        hit = np.zeros(len(prices_text), dtype=bool)
        for column in columns:
            hit |= column > min_usd
        rows = np.nonzero(hit)[0].tolist()
        if not rows:
            continue
        stamp = utc_text(int(ms))
        values = [column.tolist() for column in columns]
        yield "".join(f"{stamp},{prices_text[p]},{','.join(str(v[p]) for v in values)}\r\n" for p in rows)


def render_png(
    *,
    grid: np.ndarray,
    full_usd: float,
    candles: Sequence[Candle],
    price_lo: float,
    price_hi: float,
    width: int,
    height: int,
) -> bytes:
    """The map as the page draws its plot: one colour per cell, prices bottom-up, stretched to
    width × height pixels, candles on top."""
    levels = intensity_levels(grid, full_usd)  # (time, price)
    pixels = LUT[levels.T[::-1]]  # rows = price bins, top row = highest price
    image = Image.fromarray(np.ascontiguousarray(pixels), mode="RGB").resize((width, height), Image.Resampling.NEAREST)
    _draw_candles(ImageDraw.Draw(image), candles, price_lo, price_hi, width, height, columns=grid.shape[0])
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=3)
    return out.getvalue()


def _draw_candles(
    draw: ImageDraw.ImageDraw,
    candles: Sequence[Candle],
    lo: float,
    hi: float,
    width: int,
    height: int,
    *,
    columns: int,
) -> None:
    if not columns or not hi > lo:
        return
    col_w = width / columns

    def y(price: float) -> float:
        return (hi - price) / (hi - lo) * height

    for i, candle in enumerate(candles[:columns]):
        if not candle or any(v is None for v in candle[1:5]):
            continue
        o, h, low, c = (float(v) for v in candle[1:5])  # type: ignore[arg-type]
        colour = UP if c >= o else DOWN
        x = int((i + 0.5) * col_w)
        draw.line([(x, y(h)), (x, y(low))], fill=colour, width=1)
        if col_w >= 2.5:
            body = max(1.0, col_w * 0.6)
            top, bottom = y(max(o, c)), y(min(o, c))
            draw.rectangle([(x - body / 2, top), (x + body / 2, max(top + 1, bottom))], fill=colour, outline=WICK_SHADE)

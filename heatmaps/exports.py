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
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from PIL import Image, ImageDraw, ImageFont

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


# The difference of two maps: A's excess warm, B's cool, equal cells the page's background.
DIVERGING_A = (255, 140, 40)
DIVERGING_B = (64, 150, 255)
DIVERGING_ZERO = (13, 17, 23)


def render_diverging_png(
    *,
    diff: np.ndarray,
    full_usd: float,
    candles: Sequence[Candle],
    price_lo: float,
    price_hi: float,
    width: int,
    height: int,
) -> bytes:
    """A − B per cell (time, price) in a diverging palette, ±``full_usd`` at full colour (a square-root
    ramp, so small differences still show), prices bottom-up, candles on top."""
    share = np.clip(diff / full_usd, -1.0, 1.0) if full_usd > 0 else np.zeros_like(diff)
    weight = np.sqrt(np.abs(share))[..., None]
    zero = np.array(DIVERGING_ZERO, dtype=np.float64)
    end = np.where(
        share[..., None] > 0, np.array(DIVERGING_A, dtype=np.float64), np.array(DIVERGING_B, dtype=np.float64)
    )
    rgb = np.rint(zero + (end - zero) * weight).astype(np.uint8)  # (time, price, 3)
    pixels = np.ascontiguousarray(rgb.transpose(1, 0, 2)[::-1])
    image = Image.fromarray(pixels, mode="RGB").resize((width, height), Image.Resampling.NEAREST)
    _draw_candles(ImageDraw.Draw(image), candles, price_lo, price_hi, width, height, columns=diff.shape[0])
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


# ---- the PNG that stands alone: title, axes, colour scale, provenance -------------------------------

AXIS_COLOUR = (139, 148, 158)
TEXT_COLOUR = (230, 237, 243)
GRID_COLOUR = (48, 54, 61)
PRICE_LINE = (230, 237, 243)
FRAME_TOP, FRAME_RIGHT, FRAME_BOTTOM = 52, 84, 74  # px around the plot
MIN_FRAMED = (360, 240)  # below this the picture is the bare plot
TIME_STEPS_MS = tuple(
    m * 60_000 for m in (5, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 4320, 10080, 20160, 43200, 86400)
)
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class PngFrame:
    """What a shared picture must say about itself: the title (asset, timeframe, model, filters) and
    the small print (computed at, data provenance); the rest is read off the map."""

    title: str
    subtitle: str
    footer: str
    quote: str
    current_price: float | None
    start_ms: int
    end_ms: int


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def nice_step(span: float, target: int) -> float:
    """1, 2, 2.5 or 5 × a power of ten, about `target` steps over `span` (heatmap.js niceStep)."""
    raw = span / max(1, target)
    mag = 10 ** math.floor(math.log10(raw))
    for step in (1, 2, 2.5, 5, 10):
        if step * mag >= raw:
            return step * mag
    return 10 * mag


def price_ticks(lo: float, hi: float, target: int) -> tuple[list[float], int]:
    step = nice_step(hi - lo, target)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    first = math.ceil(lo / step) * step
    ticks = [first + i * step for i in range(int((hi - first) / step) + 1) if first + i * step <= hi]
    return ticks, decimals


def time_ticks(start_ms: int, end_ms: int, width: int, per_label: int = 110) -> list[tuple[int, str]]:
    """UTC ticks about `per_label` px apart: "Jan 29" at midnight or for day steps, "14:30" otherwise."""
    span = max(1, end_ms - start_ms)
    step = next((s for s in TIME_STEPS_MS if s / span * width >= per_label), TIME_STEPS_MS[-1])
    out = []
    t = -(-start_ms // step) * step
    while t < end_ms:
        d = datetime.fromtimestamp(t / 1000, tz=UTC)
        midnight = d.hour == 0 and d.minute == 0
        label = f"{MONTHS[d.month - 1]} {d.day}" if step >= 86_400_000 or midnight else f"{d:%H:%M}"
        out.append((t, label))
        t += step
    return out


def render_framed_png(
    *,
    grid: np.ndarray,
    full_usd: float,
    min_usd: float,
    candles: Sequence[Candle],
    price_lo: float,
    price_hi: float,
    width: int,
    height: int,
    frame: PngFrame,
) -> bytes:
    """The map as a picture to share: the plot (render_png's), the price axis with the current price,
    the UTC time axis, the colour scale with its USD ends, the title and the provenance. Too small a
    picture for words is the bare plot."""
    if width < MIN_FRAMED[0] or height < MIN_FRAMED[1]:
        return render_png(
            grid=grid,
            full_usd=full_usd,
            candles=candles,
            price_lo=price_lo,
            price_hi=price_hi,
            width=width,
            height=height,
        )
    plot_w, plot_h = width - FRAME_RIGHT, height - FRAME_TOP - FRAME_BOTTOM
    shown = np.where(grid >= min_usd, grid, 0.0) if min_usd > 0 else grid
    plot = Image.open(
        io.BytesIO(
            render_png(
                grid=shown,
                full_usd=full_usd,
                candles=candles,
                price_lo=price_lo,
                price_hi=price_hi,
                width=plot_w,
                height=plot_h,
            )
        )
    )
    image = Image.new("RGB", (width, height), COLOUR_STOPS[0][1])
    image.paste(plot, (0, FRAME_TOP))
    draw = ImageDraw.Draw(image)
    small, bold = _font(11), _font(16)
    draw.text((8, 6), frame.title, fill=TEXT_COLOUR, font=bold)
    draw.text((8, 28), frame.subtitle, fill=AXIS_COLOUR, font=small)

    def y(price: float) -> float:
        return FRAME_TOP + (price_hi - price) / (price_hi - price_lo) * plot_h

    ticks, decimals = price_ticks(price_lo, price_hi, max(3, plot_h // 55))
    for p in ticks:
        ty = round(y(p))
        draw.line([(plot_w, ty), (plot_w + 4, ty)], fill=GRID_COLOUR)
        draw.text((plot_w + 6, ty - 7), f"{p:,.{decimals}f}", fill=AXIS_COLOUR, font=small)
    draw.text((plot_w + 6, FRAME_TOP - 15), frame.quote, fill=AXIS_COLOUR, font=small)
    cp = frame.current_price
    if cp is not None and price_lo <= cp <= price_hi:
        cy = round(y(cp))
        for x0 in range(0, plot_w, 8):  # dashed, as on the page
            draw.line([(x0, cy), (min(plot_w, x0 + 4), cy)], fill=PRICE_LINE)
        places = max(0, min(8, 5 - math.floor(math.log10(abs(cp))))) if cp else 2
        draw.rectangle([(plot_w, cy - 8), (width - 1, cy + 8)], fill=PRICE_LINE)
        draw.text((plot_w + 4, cy - 7), f"{cp:,.{places}f}", fill=COLOUR_STOPS[0][1], font=small)

    axis_y = FRAME_TOP + plot_h
    span = max(1, frame.end_ms - frame.start_ms)
    for t, label in time_ticks(frame.start_ms, frame.end_ms, plot_w):
        tx = round((t - frame.start_ms) / span * plot_w)
        if tx < 20 or tx > plot_w - 20:
            continue
        draw.line([(tx, axis_y), (tx, axis_y + 4)], fill=GRID_COLOUR)
        text_w = draw.textlength(label, font=small)
        draw.text((tx - text_w / 2, axis_y + 6), label, fill=AXIS_COLOUR, font=small)
    draw.text((plot_w + 6, axis_y + 6), "UTC", fill=AXIS_COLOUR, font=small)

    # The colour scale: the LUT left to right, its USD ends written under it.
    bar_w, bar_y = min(360, plot_w - 16), axis_y + 26
    ramp = LUT[np.linspace(0, 255, bar_w).astype(np.int64)][np.newaxis, :, :].repeat(10, axis=0)
    image.paste(Image.fromarray(np.ascontiguousarray(ramp), mode="RGB"), (8, bar_y))
    draw.rectangle([(7, bar_y - 1), (8 + bar_w, bar_y + 10)], outline=GRID_COLOUR)
    low = f"below {usd_text(min_usd)} not drawn" if min_usd > 0 else "$0"
    draw.text((8, bar_y + 13), low, fill=AXIS_COLOUR, font=small)
    high = f"full intensity = {usd_text(full_usd)}"
    draw.text((8 + bar_w - draw.textlength(high, font=small), bar_y + 13), high, fill=AXIS_COLOUR, font=small)
    draw.text((bar_w + 24, bar_y - 2), frame.footer, fill=AXIS_COLOUR, font=small)
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=3)
    return out.getvalue()


def usd_text(value: float) -> str:
    """$1.23B, $616.6M, $48.2K, $950 (as the pages write USD)."""
    for threshold, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= threshold:
            scaled = value / threshold
            return f"${scaled:,.{2 if abs(scaled) < 10 else 1}f}{suffix}"
    return f"${value:,.0f}"


# ---- two moments: the difference of the levels standing at each, as a diverging bar profile --------


def render_profile_png(
    *,
    edges: np.ndarray,
    diffs: Sequence[tuple[str, np.ndarray]],
    full_usd: float,
    title: str,
    subtitle: str,
    width: int,
    height: int,
) -> bytes:
    """A − B per price bin as horizontal bars from a zero line, one panel per side in ``diffs``
    (("Longs", A − B), ...): A's surplus to the right in A's colour, B's to the left in B's, ±``full_usd``
    at the panel's edge; prices bottom-up on the left, ticked in the quote currency."""
    image = Image.new("RGB", (width, height), DIVERGING_ZERO)
    draw = ImageDraw.Draw(image)
    small, bold = _font(11), _font(14)
    framed = width >= MIN_FRAMED[0] and height >= MIN_FRAMED[1]
    top, left, bottom = (62, 64, 22) if framed else (0, 0, 0)
    if framed:
        draw.text((8, 6), title, fill=TEXT_COLOUR, font=bold)
        draw.text((8, 26), subtitle, fill=AXIS_COLOUR, font=small)
    plot_h = max(1, height - top - bottom)
    lo, hi = float(edges[0]), float(edges[-1])

    def y(price: float) -> float:
        return top + (hi - price) / (hi - lo) * plot_h if hi > lo else top

    if framed and hi > lo:
        ticks, decimals = price_ticks(lo, hi, max(2, plot_h // 60))
        for tick in ticks:
            ty = y(tick)
            draw.line([(left - 4, ty), (width, ty)], fill=GRID_COLOUR, width=1)
            label = f"{tick:,.{decimals}f}"
            draw.text((left - 6 - draw.textlength(label, font=small), ty - 6), label, fill=AXIS_COLOUR, font=small)
    panel_w = (width - left) / max(1, len(diffs))
    for k, (name, diff) in enumerate(diffs):
        x0 = left + k * panel_w
        centre = x0 + panel_w / 2
        half = panel_w / 2 - 4
        share = np.clip(diff / full_usd, -1.0, 1.0) if full_usd > 0 else np.zeros_like(diff)
        for i in np.nonzero(share)[0]:
            y_top, y_bottom = y(float(edges[i + 1])), y(float(edges[i]))
            end = centre + float(share[i]) * half
            colour = DIVERGING_A if share[i] > 0 else DIVERGING_B
            draw.rectangle([(min(centre, end), y_top), (max(centre, end), max(y_top, y_bottom - 1))], fill=colour)
        draw.line([(centre, top), (centre, top + plot_h)], fill=AXIS_COLOUR, width=1)
        if framed:
            draw.text((x0 + 6, top - 16), f"{name}: A - B", fill=TEXT_COLOUR, font=small)
            scale = usd_text(full_usd)
            draw.text((x0 + 4, height - bottom + 4), f"-{scale}", fill=DIVERGING_B, font=small)
            draw.text(
                (x0 + panel_w - 6 - draw.textlength(f"+{scale}", font=small), height - bottom + 4),
                f"+{scale}",
                fill=DIVERGING_A,
                font=small,
            )
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=3)
    return out.getvalue()

"""Shapes of the public market API (/api/v1/assets/…): the query parameters each endpoint accepts and
the JSON it answers with. Parsing and documentation only; heatmaps/v1.py builds the answers.

Query serializers turn every malformed parameter into a 400 naming it. The response serializers are
what drf-spectacular publishes; the large heat-map body is assembled as plain data in the view (a
serializer walking 150 000 cells would cost more than the rest of the request) and this module's
HeatmapOut describes it field for field.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import NotFound

from heatmaps.engine import TIMEFRAMES
from heatmaps.models import EXCHANGE_NAMES, Asset, Candle, FundingRate, Liquidation, OpenInterest

MAX_PINNED_USD = 1e13
MAX_SPAN = timedelta(days=400)
DEFAULT_SPAN = timedelta(days=1)
# Epoch milliseconds from 2000 to 2100: anything else is a mistake (seconds instead of ms, say).
EARLIEST_MS = 946_684_800_000
LATEST_MS = 4_102_444_800_000
PNG_WIDTH = (100, 4000, 1200)  # min, max, default pixels
PNG_HEIGHT = (100, 3000, 600)

SIDES = ["both", "long", "short"]
MODELS = ["v1"]
LEVERAGE_BANDS = ["low", "mid", "high"]
CELL_ENCODINGS = ["sparse", "dense", "packed"]
FORMATS = ["json", "csv", "png"]


# ---- fields ---------------------------------------------------------------------------------------


class FiniteFloatField(serializers.FloatField):
    """A float that is a number: NaN and the infinities are refused like any other bad value."""

    default_error_messages = {"invalid": "A finite number is required."}

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            self.fail("invalid")
        return value


@extend_schema_field(
    {
        "type": "string",
        "description": "UTC instant: ISO 8601 (2026-01-29T17:05:00Z, 2026-01-29) or milliseconds since the epoch",
        "example": "2026-01-29T00:00:00Z",
    }
)
class UtcInstantField(serializers.Field):
    default_error_messages = {
        "invalid": "Give an ISO 8601 time (2026-01-29T17:05:00Z) or milliseconds since the epoch.",
        "range": "Give a time between 2000 and 2100 (milliseconds, not seconds, since the epoch).",
    }

    def to_internal_value(self, data: Any) -> datetime:
        if not isinstance(data, str):
            self.fail("invalid")
        text = data.strip()
        if text.isascii() and text.lstrip("-").isdigit() and len(text) <= 16:
            ms = int(text)
            if not EARLIEST_MS <= ms < LATEST_MS:
                self.fail("range")
            return datetime.fromtimestamp(ms / 1000, tz=UTC)
        try:
            parsed = parse_datetime(text)
            if parsed is None and (day := parse_date(text)) is not None:
                parsed = datetime(day.year, day.month, day.day)
        except ValueError:  # well formed but impossible, e.g. month 13
            parsed = None
        if parsed is None:
            self.fail("invalid")
        assert parsed is not None
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        if not EARLIEST_MS <= parsed.timestamp() * 1000 < LATEST_MS:
            self.fail("range")
        return parsed

    def to_representation(self, value: datetime) -> str:
        return value.isoformat()


# ---- query parameters -----------------------------------------------------------------------------


class HeatmapQuery(serializers.Serializer):
    timeframe = serializers.ChoiceField(choices=list(TIMEFRAMES), default="24h", help_text="The map's window.")
    side = serializers.ChoiceField(
        choices=SIDES, default="both", help_text="Longs (liquidated below the price), shorts (above), or both."
    )
    cells = serializers.ChoiceField(
        choices=CELL_ENCODINGS,
        default="sparse",
        help_text="sparse: [time_index, price_index, usd] triples above min_usd; "
        "dense: the whole grid as little-endian float32, time-major, base64; "
        "packed: the grid as stored, log-quantised uint16 codes, delta-coded along time, zlib, base64 "
        "(smallest; see the cells' long/short for how to decode).",
    )
    min_usd = FiniteFloatField(
        default=0.0, min_value=0.0, max_value=MAX_PINNED_USD, help_text="Sparse cells and CSV rows: USD above this."
    )
    format = serializers.ChoiceField(
        choices=FORMATS, default="json", help_text="json, csv (the cells, streamed) or png (the rendered map)."
    )
    width = serializers.IntegerField(
        min_value=PNG_WIDTH[0], max_value=PNG_WIDTH[1], default=PNG_WIDTH[2], help_text="PNG width in pixels."
    )
    height = serializers.IntegerField(
        min_value=PNG_HEIGHT[0], max_value=PNG_HEIGHT[1], default=PNG_HEIGHT[2], help_text="PNG height in pixels."
    )
    full = FiniteFloatField(
        required=False,
        min_value=0.01,
        max_value=MAX_PINNED_USD,
        help_text="USD at full colour intensity, to compare maps cell for cell (default: the map's own 99th percentile).",
    )
    # The window of a zoomed page (csv and png): whole columns and price bins covering it.
    start = serializers.IntegerField(
        required=False, min_value=0, help_text="csv/png: from this time, UTC ms (default: the map's first column)."
    )
    end = serializers.IntegerField(
        required=False, min_value=0, help_text="csv/png: up to this time, UTC ms (default: the map's end)."
    )
    price_low = FiniteFloatField(required=False, min_value=0.0, help_text="csv/png: from this price (quote currency).")
    price_high = FiniteFloatField(required=False, min_value=0.0, help_text="csv/png: up to this price.")
    # Filters: the same run drawn on request with part of its positions or data (heatmaps/explorer.py).
    model = serializers.RegexField(
        r"^\s*(v1|v2|custom|mine:\d{1,18})\s*$",
        required=False,
        max_length=30,
        error_messages={
            "invalid": "Choose v1, v2, custom (with mp, mmr and maxlev) or mine:<id> (one of your models)."
        },
        help_text="The model: v1 (default) or v2, both stored for every timeframe (v2 trails v1 by one low-priority "
        "compute); custom: model v2 with the parameters in mp, mmr and maxlev, computed on request; mine:<id>: one of "
        "your own models (signed in; another user's id is refused like an unknown one, 400).",
    )
    mp = serializers.CharField(
        required=False,
        max_length=400,
        help_text="model=custom: model v2's tiers as leverage:weight:half-life hours, comma-separated, e.g. "
        "5:0.1:720,10:0.25:336,25:0.3:168,50:0.2:72,100:0.15:24 (weights sum to 1); the half-life never (or inf) "
        "for a tier whose positions never fade, e.g. 5:0.5:never,10:0.5:240.",
    )
    mmr = serializers.CharField(
        required=False,
        max_length=30,
        help_text="model=custom: the maintenance margin rate, e.g. 0.004 (default: the asset's).",
    )
    maxlev = serializers.CharField(
        required=False,
        max_length=30,
        help_text="model=custom: the maximum leverage, e.g. 50: tiers above it are dropped and the rest "
        "renormalised (default: the asset's venues' maximum leverage).",
    )
    tiers = serializers.RegexField(
        r"^\s*\d+(\.\d+)?[xX]?\s*(,\s*\d+(\.\d+)?[xX]?\s*)*$",
        required=False,
        max_length=200,
        error_messages={"invalid": "Give leverage tiers of the model separated by commas, e.g. 50,100."},
        help_text="Only these leverage tiers' positions (a subset of the model's tiers, e.g. 50,100), at their own "
        "weights: the tiers' maps of one run add up to the whole map.",
    )
    lev = serializers.ChoiceField(
        choices=list(LEVERAGE_BANDS),
        required=False,
        help_text="A leverage band: low (10x and below), mid (above 10x, below 50x), high (50x and above).",
    )
    exchange = serializers.RegexField(
        r"^\s*[a-z]+\s*(,\s*[a-z]+\s*)*$",
        required=False,
        max_length=200,
        error_messages={"invalid": "Give exchange codes separated by commas, e.g. binance,bybit."},
        help_text="Only the open interest of these of the asset's exchanges (codes, comma-separated or repeated); "
        "the candles stay the reference exchange's.",
    )
    at = UtcInstantField(
        required=False,
        help_text="The map as it would have been drawn at this moment, from the bars that had closed by then.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "tiers" in attrs and "lev" in attrs:
            raise serializers.ValidationError({"lev": ["Give tiers or lev, not both."]})
        if "start" in attrs and "end" in attrs and attrs["start"] >= attrs["end"]:
            raise serializers.ValidationError({"start": ["start must be before end."]})
        if "price_low" in attrs and "price_high" in attrs and attrs["price_low"] >= attrs["price_high"]:
            raise serializers.ValidationError({"price_low": ["price_low must be below price_high."]})
        return attrs


class SeriesQuery(serializers.Serializer):
    start = UtcInstantField(required=False, help_text="From this instant (inclusive); default: a day before end.")
    end = UtcInstantField(required=False, help_text="Up to this instant (exclusive); default: now.")
    exchange = serializers.ChoiceField(
        choices=list(EXCHANGE_NAMES), required=False, help_text="One exchange; default: all of the asset's."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        end = attrs.get("end") or datetime.now(tz=UTC)
        start = attrs.get("start") or end - DEFAULT_SPAN
        if start >= end:
            raise serializers.ValidationError({"start": ["start must be before end."]})
        if end - start > MAX_SPAN:
            raise serializers.ValidationError(
                {"end": [f"At most {MAX_SPAN.days} days per request: page through longer spans."]}
            )
        return {**attrs, "start": start, "end": end}


# ---- the asset ------------------------------------------------------------------------------------


class ExchangeFiguresOut(serializers.Serializer):
    exchange = serializers.CharField(help_text="binance, bybit or okx")
    name = serializers.CharField()
    last_bar = serializers.DateTimeField(allow_null=True, help_text="open time of the newest 5m candle, UTC")
    age_seconds = serializers.IntegerField(allow_null=True, help_text="how old that bar is now")
    degraded_since = serializers.DateTimeField(allow_null=True, help_text="set while the feed is failing")
    close = serializers.FloatField(allow_null=True, help_text="quote currency")
    open_interest_usd = serializers.FloatField(allow_null=True)
    funding_rate = serializers.FloatField(allow_null=True, help_text="last settled, fraction per interval")
    volume_24h = serializers.FloatField(
        allow_null=True, help_text="base asset units (e.g. BTC), 24 h to the newest bar"
    )
    volume_24h_usd = serializers.FloatField(
        allow_null=True,
        help_text="the same 24 h in USD (quote currency): quote volume where reported, else volume × close",
    )


class AssetOut(serializers.Serializer):
    symbol = serializers.CharField()
    name = serializers.CharField()
    base = serializers.CharField()
    quote = serializers.CharField()
    reference_exchange = serializers.CharField(help_text="the exchange whose candles the maps use")
    timeframes = serializers.ListField(
        child=serializers.ChoiceField(choices=list(TIMEFRAMES)), help_text="timeframes with a computed map"
    )
    price = serializers.FloatField(allow_null=True, help_text="last close on the reference exchange, quote currency")
    price_time = serializers.DateTimeField(allow_null=True, help_text="open time of that candle, UTC")
    change_24h_pct = serializers.FloatField(allow_null=True, help_text="close now vs. 24 h earlier, percent")
    mark_price = serializers.FloatField(allow_null=True)
    open_interest_usd = serializers.FloatField(allow_null=True, help_text="summed over the exchanges")
    open_interest_simulated = serializers.BooleanField(help_text="the stored open interest is synthetic")
    funding_rate = serializers.FloatField(allow_null=True, help_text="last settled, OI-weighted over the exchanges")
    funding_estimate = serializers.FloatField(allow_null=True, help_text="the current interval's estimate")
    next_funding_time = serializers.DateTimeField(allow_null=True)
    volume_24h = serializers.FloatField(
        allow_null=True, help_text="base asset units (e.g. BTC), summed over the exchanges"
    )
    volume_24h_usd = serializers.FloatField(
        allow_null=True,
        help_text="the same in USD (quote currency), summed over the exchanges; what the overview shows",
    )
    exchanges = ExchangeFiguresOut(many=True)


class AssetListOut(serializers.Serializer):
    assets = AssetOut(many=True)
    timeframes = serializers.ListField(child=serializers.ChoiceField(choices=list(TIMEFRAMES)))


# ---- the heat map ---------------------------------------------------------------------------------

_NUMBER_OR_NULL = {"type": "number", "nullable": True}
_TRIPLE = {"type": "array", "items": {"type": "integer"}, "minItems": 3, "maxItems": 3}


_PACKED_GRID = {
    "type": "object",
    "description": "packed: the grid as stored. Decode: base64, then zlib-inflate `data` into uint16 "
    "little-endian codes of shape [width, bins] (time-major); add each column's codes to the previous "
    "column's, modulo 65 536 (undoes the delta coding along time); then code 0 is $0 and code c > 0 is "
    "scale × floor_ratio × exp((c − 1) / levels × ln(1 / floor_ratio)) USD (relative error ≤ 0.011 %).",
    "properties": {
        "codec": {"type": "string", "enum": ["gridcodec-v1"]},
        "data": {"type": "string", "format": "byte", "description": "zlib stream of uint16 LE delta codes, base64"},
        "scale": {"type": "number", "description": "the grid's largest cell, USD"},
        "floor_ratio": {"type": "number", "description": "cells below scale × floor_ratio are stored as $0"},
        "levels": {"type": "integer", "description": "log steps between the floor and scale"},
    },
    "required": ["codec", "data", "scale", "floor_ratio", "levels"],
}


@extend_schema_field(
    {
        "nullable": True,
        "description": "sparse: [time_index, price_index, usd] triples; dense: base64 float32; packed: the stored "
        "grid and how to decode it; null when the side was not asked for",
        "oneOf": [{"type": "array", "items": _TRIPLE}, {"type": "string", "format": "byte"}, _PACKED_GRID],
    }
)
class CellsField(serializers.Field):
    pass


class CellsOut(serializers.Serializer):
    encoding = serializers.ChoiceField(choices=CELL_ENCODINGS)
    min_usd = serializers.FloatField(help_text="sparse: cells above this USD")
    dtype = serializers.CharField(
        allow_null=True, help_text="dense: float32; packed: uint16 (the codes); both little-endian; sparse: null"
    )
    shape = serializers.ListField(child=serializers.IntegerField(), help_text="[times, prices]")
    long = CellsField()
    short = CellsField()


@extend_schema_field({"type": "array", "items": {"type": "array", "items": _NUMBER_OR_NULL, "nullable": True}})
class CandlesField(serializers.Field):
    """[bucket ms, open, high, low, close, volume] per map column; null for a column without trades."""


class ClusterOut(serializers.Serializer):
    side = serializers.ChoiceField(choices=["long", "short"])
    price_low = serializers.FloatField()
    price_high = serializers.FloatField()
    peak_price = serializers.FloatField()
    usd = serializers.IntegerField()
    distance_pct = serializers.FloatField(allow_null=True, help_text="peak vs. current price, percent")
    formed_ms = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="start of the column from which the cluster held at least half of its USD (UTC ms); "
        "absent for a map stored before it was recorded",
    )
    tiers = serializers.DictField(
        child=serializers.FloatField(), required=False, help_text="USD per leverage tier, e.g. {'50': 1200000.0}"
    )


@extend_schema_field({"type": "array", "items": {"type": "integer", "nullable": True}})
class UsdListField(serializers.Field):
    pass


@extend_schema_field({"type": "array", "items": {"type": "array", "items": {"type": "integer", "nullable": True}}})
class UsdTableField(serializers.Field):
    pass


class LiquidationMapOut(serializers.Serializer):
    price = serializers.FloatField(allow_null=True)
    leverages = serializers.ListField(child=serializers.FloatField())
    cum_long = UsdListField(help_text="USD of longs liquidated if price falls to each price bin")
    cum_short = UsdListField(help_text="USD of shorts liquidated if price rises to each price bin")
    tier_long = UsdTableField(help_text="per leverage tier × price bin")
    tier_short = UsdTableField()
    total_long = serializers.IntegerField(allow_null=True)
    total_short = serializers.IntegerField(allow_null=True)


class ScaleOut(serializers.Serializer):
    full_usd = serializers.FloatField(help_text="USD drawn at full intensity")
    map_full_usd = serializers.FloatField(help_text="the map's own 99th percentile of non-zero cells")
    pinned = serializers.BooleanField(help_text="full_usd came from ?full=")
    colour_stops = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField()), help_text="[position 0…1, r, g, b]"
    )


class ProvenanceOut(serializers.Serializer):
    computed_at = serializers.DateTimeField()
    data_start = serializers.DateTimeField(help_text="first base bar used, warm-up included")
    data_end = serializers.DateTimeField(help_text="newest base bar used")
    candle_exchange = serializers.CharField()
    oi_exchanges = serializers.ListField(child=serializers.CharField())
    oi_simulated = serializers.BooleanField(help_text="the open interest behind this map was simulated")
    replay = serializers.BooleanField(
        help_text="the data is the bundled sample replayed as a live market (the offline demo), not the market"
    )
    held_back = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField()),
        help_text="rows of the map's data span left out as implausible, per exchange and kind "
        "(open_interest: snapshots that moved more than the contracts traded or jumped and returned; "
        'candles: inconsistent or impossible prices), e.g. {"binance": {"open_interest": 1}}',
    )
    model = serializers.CharField()
    version = serializers.IntegerField()
    params = serializers.DictField(help_text="model parameters: tiers, mmr, bins, pad")


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "array", "minItems": 5, "maxItems": 5, "items": {}},
        "description": "[time ms, price, USD, side (long|short), exchange]",
    }
)
class PrintsField(serializers.Field):
    pass


@extend_schema_field({"type": "array", "items": {"type": "integer", "nullable": True}})
class ColumnUsdField(serializers.Field):
    """One whole-dollar figure per map column; null where it is unknown (a gap, not zero)."""


@extend_schema_field(
    {
        "type": "array",
        "items": {
            "type": "array",
            "minItems": 3,
            "maxItems": 3,
            "items": {"oneOf": [{"type": "number"}, {"type": "string"}]},
        },
        "description": "[settlement time ms, rate as a fraction per interval, exchange]",
    }
)
class FundingSettlementsField(serializers.Field):
    pass


class PanelsOut(serializers.Serializer):
    """The series under the map, on the map's own columns (stored with the map)."""

    oi_usd = ColumnUsdField(help_text="open interest at each column's last bar, USD, summed over the exchanges")
    oi_by_exchange = serializers.DictField(child=ColumnUsdField(), help_text="the same per exchange code")
    volume_usd = ColumnUsdField(help_text="traded volume in the column, USD (base volume × the bar's close)")
    buy_usd = ColumnUsdField(help_text="taker buys in the column, USD; null where the exchange does not say")
    sell_usd = ColumnUsdField(help_text="taker sells in the column, USD; null where the exchange does not say")
    funding = FundingSettlementsField(help_text="funding settlements in the map's window, in time order")


class ModelOut(serializers.Serializer):
    key = serializers.CharField(help_text="v1, v2, custom:<parameters' hash> or mine:<id>")
    version = serializers.ChoiceField(choices=["v1", "v2"], help_text="the model's version")
    label = serializers.CharField(help_text="the model as the map's title says it")  # type: ignore[assignment]
    stored = serializers.BooleanField(help_text="true: a stored map (v1, v2); false: computed on request")
    sweep_price = serializers.ChoiceField(
        choices=["last", "mark", "mixed"],
        allow_null=True,
        help_text="v2: which price swept the positions (mark price where the venues record it); null for v1",
    )
    query = serializers.DictField(child=serializers.CharField(), help_text="URL parameters that reproduce the model")


class FilterOut(serializers.Serializer):
    tiers = serializers.ListField(
        child=serializers.FloatField(), allow_null=True, help_text="leverages kept; null: every tier"
    )
    lev = serializers.ChoiceField(choices=LEVERAGE_BANDS, allow_null=True, help_text="the band asked for, if any")
    exchanges = serializers.ListField(
        child=serializers.CharField(), allow_null=True, help_text="exchanges whose open interest is summed; null: all"
    )
    at = serializers.DateTimeField(allow_null=True, help_text="the moment the map is drawn as of; null: now")
    origin = serializers.ChoiceField(
        choices=["stored", "computed", "archive", "rebuilt"],
        help_text="stored: the map as stored; computed: a filter of its run; archive: the map as published at "
        "that moment (never recomputed); rebuilt: a moment the archive does not hold, computed from the stored bars",
    )


class HeatmapOut(serializers.Serializer):
    symbol = serializers.CharField()
    timeframe = serializers.ChoiceField(choices=list(TIMEFRAMES))
    side = serializers.ChoiceField(choices=SIDES)
    bar_seconds = serializers.IntegerField()
    width = serializers.IntegerField(help_text="time columns")
    bins = serializers.IntegerField(help_text="price bins")
    price_lo = serializers.FloatField(help_text="lower edge of the first bin")
    price_hi = serializers.FloatField(help_text="upper edge of the last bin")
    times = serializers.ListField(child=serializers.IntegerField(), help_text="column start, ms since epoch, UTC")
    prices = serializers.ListField(child=serializers.FloatField(), help_text="bin centres, quote currency")
    cells = CellsOut()
    candles = CandlesField()
    clusters = ClusterOut(many=True)
    liquidation_map = LiquidationMapOut()
    liquidations = PrintsField(help_text="recorded liquidation events in the window, largest 500")
    scale = ScaleOut()
    current_price = serializers.FloatField(allow_null=True)
    provenance = ProvenanceOut()
    panels = PanelsOut(
        allow_null=True,
        help_text="open interest, volume and funding on the map's columns; null for a map stored without them",
    )
    units = serializers.DictField(child=serializers.CharField())
    filter = FilterOut(help_text="what of the run this map shows (tiers, exchanges, moment)")
    model = ModelOut(help_text="the model the map is drawn with")


# ---- time series ----------------------------------------------------------------------------------


class CandleOut(serializers.ModelSerializer):
    exchange = serializers.CharField(source="exchange.code")
    time = serializers.DateTimeField(source="open_time", help_text="open time, UTC")

    class Meta:
        model = Candle
        fields = ["time", "exchange", "open", "high", "low", "close", "volume", "quote_volume"]


class OpenInterestOut(serializers.ModelSerializer):
    exchange = serializers.CharField(source="exchange.code")
    oi_usd = serializers.FloatField(source="oi_value", allow_null=True, help_text="USD; null where only base is known")

    class Meta:
        model = OpenInterest
        fields = ["time", "exchange", "oi_base", "oi_usd", "simulated"]


class FundingOut(serializers.ModelSerializer):
    exchange = serializers.CharField(source="exchange.code")
    time = serializers.DateTimeField(source="funding_time")

    class Meta:
        model = FundingRate
        fields = ["time", "exchange", "rate", "mark_price"]


class LiquidationOut(serializers.ModelSerializer):
    exchange = serializers.CharField(source="exchange.code")
    usd = serializers.FloatField(source="value")

    class Meta:
        model = Liquidation
        fields = ["time", "exchange", "side", "price", "quantity", "usd"]


SYMBOL = re.compile(r"^[A-Za-z0-9]{2,32}$")


def api_asset(symbol: str, *, assets: QuerySet[Asset] | None = None, missing: str = "unknown asset {symbol}") -> Asset:
    """The enabled asset an API path names (any case), from ``assets`` when given, or a 404 saying ``missing``."""
    asset = None
    if SYMBOL.match(symbol):
        asset = (
            (assets if assets is not None else Asset.objects.all()).filter(symbol=symbol.upper(), enabled=True).first()
        )
    if asset is None:
        raise NotFound(missing.format(symbol=repr(symbol[:40])))
    return asset


class ErrorOut(serializers.Serializer):
    detail = serializers.CharField()


ERROR_RESPONSES: dict[int, Any] = {
    401: ErrorOut,
    404: ErrorOut,
    429: ErrorOut,
}
BAD_REQUEST = {400: OpenApiTypes.OBJECT}

"""Market side of the platform: assets, exchanges and the market data they feed."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

DEFAULT_TIERS = "5:0.10,10:0.25,25:0.30,50:0.20,100:0.15"
EXCHANGE_NAMES = {
    "binance": "Binance USDS-M",
    "bybit": "Bybit linear",
    "okx": "OKX swap",
    "hyperliquid": "Hyperliquid perpetuals",
    "bitget": "Bitget USDT-M",
    "gate": "Gate USDT perpetuals",
    "bitmex": "BitMEX linear USDT",
    "deribit": "Deribit perpetuals",
}


class Exchange(models.Model):
    code = models.SlugField(max_length=32, unique=True, help_text="the venue's lower-case name, e.g. binance")
    name = models.CharField(max_length=64)
    enabled = models.BooleanField(default=True)
    degraded_since = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def get_supported(cls, code: str) -> Exchange:
        """The row for a supported exchange, created if a flush removed the seeded one."""
        if code not in EXCHANGE_NAMES:
            raise ValueError(f"unsupported exchange {code!r}; choose from {', '.join(EXCHANGE_NAMES)}")
        exchange, _ = cls.objects.get_or_create(code=code, defaults={"name": EXCHANGE_NAMES[code]})
        return exchange


def validate_tiers(value: str) -> None:
    from heatmaps.engine import ModelParams

    try:
        ModelParams(tiers=ModelParams.parse_tiers(value)).validate()
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


class Asset(models.Model):
    symbol = models.CharField(
        max_length=32,
        unique=True,
        validators=[RegexValidator(r"^[A-Z0-9]{2,32}$", "Use the instrument's symbol in capitals, e.g. BTCUSDT.")],
    )
    display_name = models.CharField(max_length=64)
    base = models.CharField(max_length=16, help_text="Base asset, e.g. BTC")
    quote = models.CharField(max_length=16, default="USDT", help_text="Quote asset, e.g. USDT")
    enabled = models.BooleanField(default=True)
    exchanges = models.ManyToManyField(Exchange, related_name="assets", blank=True)
    reference_exchange = models.ForeignKey(
        Exchange,
        on_delete=models.PROTECT,
        related_name="reference_for",
        help_text="Exchange whose candles are drawn and fed to the model",
    )
    # Model v1 parameters (see docs/model.md).
    tiers = models.CharField(
        max_length=200,
        default=DEFAULT_TIERS,
        validators=[validate_tiers],
        help_text="Leverage tiers and weights, e.g. 5:0.10,10:0.25 (weights sum to 1)",
    )
    mmr = models.FloatField(
        "maintenance margin rate",
        default=0.004,
        validators=[MinValueValidator(0.0), MaxValueValidator(0.2)],
    )
    bins = models.PositiveIntegerField(default=400, validators=[MinValueValidator(20), MaxValueValidator(2000)])
    pad = models.FloatField(default=0.10, validators=[MinValueValidator(0.0), MaxValueValidator(0.9)])

    class Meta:
        ordering = ["symbol"]

    def __str__(self) -> str:
        return self.symbol


class VenueSymbol(models.Model):
    """What one venue calls an asset (BTCUSDT on Binance, BTC-USDT-SWAP on OKX, BTC on Hyperliquid): the
    instrument every fetch for the pair asks for. Without a row, the venue's naming convention applies."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="venue_symbols")
    exchange = models.ForeignKey(Exchange, on_delete=models.CASCADE, related_name="+")
    symbol = models.CharField(max_length=64, help_text="the venue's own instrument name, e.g. BTC-USDT-SWAP")
    checked_at = models.DateTimeField(
        null=True, blank=True, help_text="when the venue's instrument list last listed it (empty: never checked)"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["asset", "exchange"], name="venue_symbol_one_per_venue")]
        ordering = ["asset", "exchange"]

    def __str__(self) -> str:
        return f"{self.asset_id}@{self.exchange_id}: {self.symbol}"


class HyperliquidAccount(models.Model):
    """A Hyperliquid account whose positions the sweep reads (``clearinghouseState``): seen trading in the public
    trades stream, on the public leaderboard, or added by an operator."""

    class Source(models.TextChoices):
        TRADES = "trades", "seen in the trades stream"
        LEADERBOARD = "leaderboard", "on the leaderboard"
        OPERATOR = "operator", "added by an operator"

    address = models.CharField(
        max_length=42,
        unique=True,
        validators=[RegexValidator(r"^0x[0-9a-f]{40}$", "An address is 0x and 40 hex digits, in lower case.")],
    )
    source = models.CharField(max_length=16, choices=Source.choices)
    enabled = models.BooleanField(default=True)
    added_at = models.DateTimeField()
    last_swept_at = models.DateTimeField(null=True, blank=True)
    hot = models.BooleanField(
        default=False, help_text="a position within ±25 % of its liquidation price: read every minute"
    )
    open_positions = models.PositiveIntegerField(default=0, help_text="at the last sweep")
    without_liquidation_price = models.PositiveIntegerField(
        default=0, help_text="positions at the last sweep with no liquidation price (hedged or tiny accounts)"
    )

    class Meta:
        ordering = ["address"]

    def __str__(self) -> str:
        return self.address


class MeasuredPosition(models.Model):
    """One open position of a swept Hyperliquid account, replaced at every sweep of that account: the real USD
    at the real liquidation price, not a model's guess."""

    class Side(models.TextChoices):
        LONG = "long", "long"
        SHORT = "short", "short"

    account = models.ForeignKey(HyperliquidAccount, on_delete=models.CASCADE, related_name="measured_positions")
    coin = models.CharField(max_length=32, help_text="Hyperliquid's name, e.g. BTC")
    side = models.CharField(max_length=5, choices=Side.choices)
    size = models.FloatField(help_text="in the coin")
    entry_price = models.FloatField(null=True)
    notional_usd = models.FloatField()
    liquidation_price = models.FloatField(null=True, help_text="empty: the venue gives none (hedged or tiny account)")
    leverage = models.FloatField(null=True)
    swept_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "coin"], name="measured_position_one_per_coin")]
        indexes = [models.Index(fields=["coin"], name="measured_position_coin")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.side} {self.size:g} {self.coin}"


class Candle(models.Model):
    """A 5-minute last-price candle as the exchange reports it.

    On PostgreSQL the table is partitioned by month of ``open_time`` (migration 0007, maintenance in
    heatmaps/marketdata/partitions.py). A partitioned table's primary key must contain the partition
    key, so the natural key is the primary key: no surrogate id, no second unique index. The
    foreign keys are not indexed on their own: the primary key starts with the asset, and an exchange
    is never deleted in practice (doing so scans the table once).
    """

    pk = models.CompositePrimaryKey("asset", "exchange", "open_time")
    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="+", db_index=False)
    exchange = models.ForeignKey(Exchange, on_delete=models.CASCADE, related_name="+", db_index=False)
    open_time = models.DateTimeField()
    open = models.FloatField()
    high = models.FloatField()
    low = models.FloatField()
    close = models.FloatField()
    volume = models.FloatField(null=True, help_text="base asset")
    taker_buy_volume = models.FloatField(null=True, help_text="base asset")
    quote_volume = models.FloatField(null=True, help_text="quote asset")

    def __str__(self) -> str:
        return f"{self.asset_id}@{self.exchange_id} {self.open_time:%Y-%m-%d %H:%M} UTC"


class MarkCandle(models.Model):
    """A 5-minute mark-price candle as the exchange reports it: the price venues liquidate on, which
    model v2 sweeps positions with where it is stored (docs/model.md). Unlike Candle it keeps a surrogate
    id (the admin cannot list a model with a composite primary key); the asset-first unique index on the
    natural key serves the per-asset range reads as Candle's primary key does, so the foreign keys need no
    index of their own."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="+", db_index=False)
    exchange = models.ForeignKey(Exchange, on_delete=models.CASCADE, related_name="+", db_index=False)
    open_time = models.DateTimeField()
    open = models.FloatField()
    high = models.FloatField()
    low = models.FloatField()
    close = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["asset", "exchange", "open_time"], name="mark_candle_natural_key")
        ]

    def __str__(self) -> str:
        return f"{self.asset_id}@{self.exchange_id} mark {self.open_time:%Y-%m-%d %H:%M} UTC"


class RiskLimit(models.Model):
    """An asset's risk-limit brackets on one venue as its public endpoint publishes them (Bybit risk-limit,
    OKX position-tiers), converted to USD and rates, refreshed daily. A failed refresh keeps the row; the
    failure is recorded beside it."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="risk_limits")
    exchange = models.ForeignKey(Exchange, on_delete=models.CASCADE, related_name="+")
    instrument = models.CharField(max_length=64, blank=True, help_text="the venue's instrument the brackets are for")
    brackets = models.JSONField(
        help_text='[{"max_notional_usd", "max_leverage", "mmr"}, …] from the smallest position up, as published'
    )
    max_leverage = models.FloatField(help_text="of the first bracket, the one retail positions sit in")
    mmr = models.FloatField("maintenance margin rate", help_text="of the first bracket, a fraction (0.005 = 0.5 %)")
    fetched_at = models.DateTimeField()
    last_error = models.TextField(blank=True, help_text="the last failed refresh's error; empty after a success")
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["asset", "exchange"], name="risk_limit_one_per_venue")]
        ordering = ["asset", "exchange"]

    def __str__(self) -> str:
        return f"{self.asset_id}@{self.exchange_id} risk limit: {self.max_leverage:g}x, mmr {self.mmr:g}"


class OpenInterest(models.Model):
    """Open interest snapshots; partitioned by month of ``time`` like Candle, for the same reasons."""

    pk = models.CompositePrimaryKey("asset", "exchange", "time")
    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="+", db_index=False)
    exchange = models.ForeignKey(Exchange, on_delete=models.CASCADE, related_name="+", db_index=False)
    time = models.DateTimeField(help_text="as the exchange stamps it (Binance: close of the 5m bar)")
    oi_base = models.FloatField(null=True, help_text="base asset")
    oi_value = models.FloatField(null=True, help_text="quote currency (USD)")
    simulated = models.BooleanField(default=False, help_text="synthetic series, not market data")
    # Why this snapshot is not booked as flow (heatmaps/engine/oi_guard.py); empty when it is. The DB
    # default keeps COPY-based upserts, which name their columns, valid without it.
    held_back = models.CharField(
        max_length=24,
        blank=True,
        default="",
        db_default="",
        help_text="empty: used; exceeds_volume: moved more than the contracts traded; spike: jumped and returned",
    )

    class Meta:
        verbose_name = "open interest"
        verbose_name_plural = "open interest"

    def __str__(self) -> str:
        return f"{self.asset_id}@{self.exchange_id} OI {self.time:%Y-%m-%d %H:%M} UTC"


class HeldBackCandle(models.Model):
    """A candle an exchange sent that failed the plausibility checks at ingest
    (heatmaps/marketdata/plausibility.py): kept here, not among the candles, so it never reaches a map
    and the pages can say how many were held back."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="+")
    exchange = models.ForeignKey(Exchange, on_delete=models.CASCADE, related_name="+")
    open_time = models.DateTimeField()
    reason = models.CharField(max_length=24, help_text="inconsistent (OHLC) or jump (against recent volatility)")
    detail = models.TextField()
    values = models.JSONField(help_text="the candle as received: open, high, low, close, volume")
    seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["asset", "exchange", "open_time"], name="held_back_candle_natural_key")
        ]

    def __str__(self) -> str:
        return f"{self.asset_id}@{self.exchange_id} held-back candle {self.open_time:%Y-%m-%d %H:%M} UTC"


class InstrumentSpec(models.Model):
    """An exchange instrument's contract size as its public instruments endpoint states it (OKX
    ``ctVal``), refreshed daily, so a quantity in contracts converts to base units for any instrument."""

    exchange = models.ForeignKey(Exchange, on_delete=models.CASCADE, related_name="+")
    instrument = models.CharField(max_length=64, help_text="the exchange's own id, e.g. BTC-USDT-SWAP")
    contract_size = models.FloatField(help_text="base units per contract")
    settle = models.CharField(max_length=16, blank=True, help_text="settlement currency, e.g. USDT")
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["exchange", "instrument"], name="instrument_spec_natural_key")]

    def __str__(self) -> str:
        return f"{self.exchange_id} {self.instrument}: {self.contract_size:g} per contract"


class FundingRate(models.Model):
    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="+")
    exchange = models.ForeignKey(Exchange, on_delete=models.CASCADE, related_name="+")
    funding_time = models.DateTimeField()
    rate = models.FloatField(help_text="fraction per funding interval (0.0001 = 0.01 %)")
    mark_price = models.FloatField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["asset", "exchange", "funding_time"], name="funding_natural_key"),
        ]

    def __str__(self) -> str:
        return f"{self.asset_id}@{self.exchange_id} funding {self.funding_time:%Y-%m-%d %H:%M} UTC"


class Liquidation(models.Model):
    class Side(models.TextChoices):
        LONG = "long", "long liquidated"
        SHORT = "short", "short liquidated"

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="+")
    exchange = models.ForeignKey(Exchange, on_delete=models.CASCADE, related_name="+")
    time = models.DateTimeField()
    side = models.CharField(max_length=5, choices=Side.choices)
    price = models.FloatField()
    quantity = models.FloatField(help_text="base asset")
    value = models.FloatField(help_text="quote currency (USD)")
    dedupe_key = models.CharField(max_length=160)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["exchange", "dedupe_key"], name="liquidation_natural_key"),
        ]
        indexes = [models.Index(fields=["asset", "time"], name="liquidation_asset_time")]

    def __str__(self) -> str:
        return f"{self.side} liquidation {self.value:,.0f} USD at {self.price} ({self.time:%Y-%m-%d %H:%M:%S} UTC)"


class Heatmap(models.Model):
    """One computed map: asset × timeframe × model, replaced whole on every recompute.

    The long/short grids are stored quantised (see heatmaps/engine/gridcodec.py); axes are ordinary columns.
    """

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="heatmaps")
    timeframe = models.CharField(max_length=8)
    model = models.CharField(max_length=16, default="v1")
    version = models.PositiveBigIntegerField(default=1, help_text="bumped on every store; part of the cache key")
    computed_at = models.DateTimeField()
    compute_ms = models.FloatField(help_text="engine time in milliseconds")
    # What fed it
    data_start = models.DateTimeField(help_text="first base bar used (warm-up included)")
    data_end = models.DateTimeField(help_text="newest base bar used")
    oi_end = models.DateTimeField(null=True, help_text="newest open-interest snapshot used")
    candle_exchange = models.CharField(max_length=32)
    oi_exchanges = models.JSONField(default=list)
    oi_simulated = models.BooleanField(default=False)
    # Rows of the window not used, per exchange and kind: {"binance": {"open_interest": 1, "candles": 0}}
    held_back = models.JSONField(default=dict)
    params = models.JSONField(default=dict)
    # Axes
    width = models.PositiveIntegerField()
    bins = models.PositiveIntegerField()
    first_bucket = models.DateTimeField()
    bar_seconds = models.PositiveIntegerField()
    price_lo = models.FloatField(help_text="lower edge of the first bin")
    price_hi = models.FloatField(help_text="upper edge of the last bin")
    # Grids and derived views
    long_grid = models.BinaryField()
    short_grid = models.BinaryField()
    long_scale = models.FloatField()
    short_scale = models.FloatField()
    candles = models.JSONField(help_text="[bucket ms, open, high, low, close, volume] per column; null when empty")
    clusters = models.JSONField(default=list)
    liquidation_map = models.JSONField(default=dict)
    colour_scale_usd = models.FloatField(help_text="USD at full intensity (99th percentile of non-zero cells)")
    current_price = models.FloatField(null=True)
    panels = models.JSONField(
        default=dict, help_text="open interest, funding and volume on the map's columns (see maps.map_panels)"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["asset", "timeframe", "model"], name="heatmap_natural_key")]

    def __str__(self) -> str:
        return f"{self.asset} {self.timeframe} ({self.model})"


class PublishedMap(models.Model):
    """A map as it was published, kept so that "what did the map show then" is answered from what was
    shown, never recomputed (no repainting): the first version stored in each hour (each day for the 1y
    map), immutable, its grids in the stored codec. Read by `at=` (heatmaps/explorer.py)."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="+")
    timeframe = models.CharField(max_length=8)
    model = models.CharField(max_length=16, default="v1")
    slot = models.DateTimeField(help_text="the hour (the day for 1y) it was published in, UTC")
    version = models.PositiveBigIntegerField(help_text="the stored map's version that was published")
    computed_at = models.DateTimeField()
    data_end = models.DateTimeField()
    fields = models.JSONField(help_text="the row's other fields as published (axes, candles, clusters, scale…)")
    long_grid = models.BinaryField()
    short_grid = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["asset", "timeframe", "model", "slot"], name="published_map_one_per_slot")
        ]
        indexes = [models.Index(fields=["asset", "timeframe", "model", "computed_at"], name="published_map_at")]

    def __str__(self) -> str:
        return f"{self.asset_id} {self.timeframe} ({self.model}) published {self.computed_at:%Y-%m-%d %H:%M}"


class Ticker(models.Model):
    """The latest mark price and funding estimate of an asset on one exchange (Binance premiumIndex)."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="+")
    exchange = models.ForeignKey(Exchange, on_delete=models.CASCADE, related_name="+")
    time = models.DateTimeField(help_text="as the exchange stamps it")
    mark_price = models.FloatField(help_text="quote currency")
    index_price = models.FloatField(null=True, help_text="quote currency")
    funding_rate = models.FloatField(null=True, help_text="current funding estimate, fraction per interval")
    next_funding_time = models.DateTimeField(null=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["asset", "exchange"], name="ticker_one_per_asset_exchange")]

    def __str__(self) -> str:
        return f"{self.asset_id}@{self.exchange_id} mark {self.mark_price} ({self.time:%Y-%m-%d %H:%M:%S} UTC)"


class Backtest(models.Model):
    """The latest walk-forward backtest of one asset × timeframe's clusters (docs/model.md, "Does the
    magnet work?"), replaced whole on every run. ``report`` is the backtest_magnets command's JSON."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="backtests")
    timeframe = models.CharField(max_length=8)
    model = models.CharField(max_length=16, default="v1")
    computed_at = models.DateTimeField()
    compute_ms = models.FloatField(help_text="load and backtest, milliseconds")
    every_seconds = models.PositiveIntegerField(help_text="time between steps")
    horizon_seconds = models.PositiveIntegerField(help_text="how long after a step price is followed")
    steps = models.PositiveIntegerField()
    # What it ran on
    data_start = models.DateTimeField(help_text="first base bar read (warm-up included)")
    data_end = models.DateTimeField(help_text="newest base bar read")
    candle_exchange = models.CharField(max_length=32)
    oi_exchanges = models.JSONField(default=list)
    oi_simulated = models.BooleanField(default=False)
    liquidations_recorded = models.BooleanField(default=False, help_text="liquidation events were recorded in the span")
    report = models.JSONField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["asset", "timeframe", "model"], name="backtest_natural_key")]

    def __str__(self) -> str:
        return f"{self.asset} {self.timeframe} backtest ({self.model})"


class AssetSummary(models.Model):
    """The overview's figures for one asset, written when data lands or maps are recomputed, so the
    overview reads one row per asset instead of scanning market tables (marketdata/summary.py)."""

    asset = models.OneToOneField(Asset, on_delete=models.CASCADE, primary_key=True, related_name="summary")
    updated_at = models.DateTimeField()
    last_bar = models.DateTimeField(null=True, help_text="open time of the newest reference 5m candle")
    price = models.FloatField(null=True, help_text="close of the newest reference candle, quote currency")
    change_24h_pct = models.FloatField(null=True)
    oi_usd = models.FloatField(null=True, help_text="summed over the asset's exchanges")
    oi_change_24h_pct = models.FloatField(null=True)
    oi_simulated = models.BooleanField(default=False)
    held_back_rows = models.PositiveIntegerField(default=0, help_text="rows held back in the last 24 h, all exchanges")
    funding_rate = models.FloatField(null=True, help_text="OI-weighted, fraction per interval")
    next_funding_time = models.DateTimeField(null=True)
    next_funding_estimated = models.BooleanField(
        default=False, help_text="derived from the settlement interval, no exchange ticker"
    )
    volume_24h_usd = models.FloatField(null=True, help_text="summed over the asset's exchanges")
    cluster_timeframe = models.CharField(max_length=8, blank=True, help_text="the map the clusters come from")
    cluster_above_usd = models.FloatField(null=True)
    cluster_above_pct = models.FloatField(null=True, help_text="distance of its peak from the price, %")
    cluster_below_usd = models.FloatField(null=True)
    cluster_below_pct = models.FloatField(null=True)

    class Meta:
        verbose_name_plural = "asset summaries"

    def __str__(self) -> str:
        return f"{self.asset_id} summary ({self.updated_at:%Y-%m-%d %H:%M} UTC)"


class ModelCard(models.Model):
    """An asset's model parameters as fitted to its recorded liquidations (``calibrate_model``;
    docs/model.md, "Fitting the tier weights to recorded liquidations"), one version per run.

    Every run is kept, adopted or not; the newest adopted card is the asset's current one."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="model_cards")
    version = models.PositiveIntegerField(help_text="1, 2, … per asset, in the order fitted")
    created_at = models.DateTimeField()
    params = models.JSONField(help_text="as fitted: tiers (leverage, weight, half_life_hours) and mmr")
    prior_params = models.JSONField(help_text="the parameters the fit started from and is scored against")
    held_out_score = models.FloatField(help_text="fitted parameters: mean log-likelihood per held-out event, nats")
    current_held_out_score = models.FloatField(help_text="prior parameters on the same events, nats per event")
    margin = models.FloatField(help_text="nats per held-out event the fit must beat the prior parameters by")
    adopted = models.BooleanField()
    data_start = models.DateTimeField(help_text="first base bar read, UTC")
    data_end = models.DateTimeField(help_text="newest base bar read, UTC")
    liquidations = models.JSONField(help_text="recorded liquidations used, per exchange code")
    notes = models.JSONField(default=list, help_text="the method and the fit in sentences")
    report = models.JSONField(help_text="calibrate_model's JSON report")

    class Meta:
        ordering = ["asset", "-version"]
        constraints = [models.UniqueConstraint(fields=["asset", "version"], name="model_card_version")]

    def __str__(self) -> str:
        return f"{self.asset_id} model card v{self.version}"

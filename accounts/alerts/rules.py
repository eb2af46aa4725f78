"""Alert rules as plain values: one parameter class per condition, validated on construction, and
the rule spec (condition + trigger + where it stands) the evaluator works on.

Parameters travel as JSON (a model's JSONField, a form, the API); ``params_from_json`` is the one
way in, so every entry point rejects the same bad values with the same messages.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any, Literal

Direction = Literal["up", "down", "either"]
Side = Literal["above", "below", "either"]
Trigger = Literal["once", "every"]

MAX_WINDOW_MINUTES = 7 * 24 * 60
MAX_COOLDOWN_MINUTES = 30 * 24 * 60


class RuleError(ValueError):
    """A rule's parameters are invalid; the message is fit to show next to the form, ``field`` names
    the parameter it is about (None: the parameters as a whole)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _finite(name: str, value: float, *, positive: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not _fits_a_float(value):
        raise RuleError(f"{name} must be a finite number", field=name)
    if positive and value <= 0:
        raise RuleError(f"{name} must be greater than 0", field=name)


def _fits_a_float(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # JSON has integers of any size; beyond ~1.8e308 they are no float
        return False


def _percent(value: float) -> None:
    _finite("percent", value, positive=True)
    if value > 100:
        raise RuleError("percent must be at most 100 %", field="percent")


def _choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise RuleError(f"{name} must be one of {', '.join(choices)}", field=name)


def _timeframe(value: object) -> None:
    if not isinstance(value, str) or not value:
        raise RuleError("timeframe is required", field="timeframe")


@dataclass(frozen=True, slots=True)
class PriceCrosses:
    price: float
    direction: Direction = "either"

    def __post_init__(self) -> None:
        _finite("price", self.price, positive=True)
        _choice("direction", self.direction, ("up", "down", "either"))


@dataclass(frozen=True, slots=True)
class PriceEntersZone:
    low: float
    high: float

    def __post_init__(self) -> None:
        _finite("low", self.low, positive=True)
        _finite("high", self.high, positive=True)
        if self.low > self.high:
            raise RuleError("the zone's low must not be above its high", field="high")


@dataclass(frozen=True, slots=True)
class ClusterWithin:
    percent: float
    timeframe: str
    side: Side = "either"
    min_usd: float | None = None

    def __post_init__(self) -> None:
        _percent(self.percent)
        _timeframe(self.timeframe)
        _choice("side", self.side, ("above", "below", "either"))
        if self.min_usd is not None:
            _finite("min_usd", self.min_usd, positive=True)


@dataclass(frozen=True, slots=True)
class ClusterForms:
    min_usd: float
    percent: float
    timeframe: str

    def __post_init__(self) -> None:
        _finite("min_usd", self.min_usd, positive=True)
        _percent(self.percent)
        _timeframe(self.timeframe)


@dataclass(frozen=True, slots=True)
class ClusterSwept:
    min_usd: float
    timeframe: str

    def __post_init__(self) -> None:
        _finite("min_usd", self.min_usd, positive=True)
        _timeframe(self.timeframe)


def _funding_rate(value: float) -> None:
    _finite("rate", value)
    if abs(value) >= 1:
        raise RuleError("rate is a fraction per 8 h (0.0005 = 0.05 %); it must be between -1 and 1", field="rate")


@dataclass(frozen=True, slots=True)
class FundingAbove:
    rate: float  # fraction per 8 h: 0.0005 is 0.05 %

    def __post_init__(self) -> None:
        _funding_rate(self.rate)


@dataclass(frozen=True, slots=True)
class FundingBelow:
    rate: float

    def __post_init__(self) -> None:
        _funding_rate(self.rate)


@dataclass(frozen=True, slots=True)
class OIChange:
    percent: float  # signed: +5 fires on a rise of 5 % or more, -5 on a fall of 5 % or more
    window_minutes: int

    def __post_init__(self) -> None:
        _finite("percent", self.percent)
        if self.percent == 0 or abs(self.percent) > 1000:
            raise RuleError("percent must be non-zero and between -1000 % and 1000 %", field="percent")
        if isinstance(self.window_minutes, bool) or not isinstance(self.window_minutes, int):
            raise RuleError("window_minutes must be a whole number of minutes", field="window_minutes")
        if not 5 <= self.window_minutes <= MAX_WINDOW_MINUTES:
            raise RuleError(
                f"window_minutes must be between 5 and {MAX_WINDOW_MINUTES} (7 days)", field="window_minutes"
            )


Params = (
    PriceCrosses
    | PriceEntersZone
    | ClusterWithin
    | ClusterForms
    | ClusterSwept
    | FundingAbove
    | FundingBelow
    | OIChange
)
Condition = Literal[
    "price_crosses",
    "price_enters_zone",
    "cluster_within",
    "cluster_forms",
    "cluster_swept",
    "funding_above",
    "funding_below",
    "oi_change",
]
PARAMS: dict[Condition, type[Params]] = {
    "price_crosses": PriceCrosses,
    "price_enters_zone": PriceEntersZone,
    "cluster_within": ClusterWithin,
    "cluster_forms": ClusterForms,
    "cluster_swept": ClusterSwept,
    "funding_above": FundingAbove,
    "funding_below": FundingBelow,
    "oi_change": OIChange,
}
CONDITIONS: tuple[Condition, ...] = tuple(PARAMS)
_CONDITION_OF: dict[type[Params], Condition] = {cls: name for name, cls in PARAMS.items()}


def condition_of(params: Params) -> Condition:
    return _CONDITION_OF[type(params)]


def params_from_json(condition: str, data: Mapping[str, Any], *, timeframes: Collection[str] | None = None) -> Params:
    """Validated parameters of ``condition`` from a JSON object; unknown keys are refused.

    ``timeframes``, when given, are the heat-map timeframe keys a cluster rule may name.
    """
    if condition not in PARAMS:
        raise RuleError(f"unknown condition {condition!r}; known: {', '.join(CONDITIONS)}", field="condition")
    if not isinstance(data, Mapping):
        raise RuleError("parameters must be a JSON object")
    cls = PARAMS[condition]
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise RuleError(f"{condition} does not take {', '.join(unknown)}", field=unknown[0])
    try:
        params = cls(**data)
    except TypeError:
        missing = sorted(n for n in names if n not in data and _required(cls, n))
        raise RuleError(f"{condition} needs {', '.join(missing)}", field=missing[0] if missing else None) from None
    timeframe = getattr(params, "timeframe", None)
    if timeframes is not None and timeframe is not None and timeframe not in timeframes:
        raise RuleError(f"timeframe must be one of {', '.join(timeframes)}", field="timeframe")
    return params


def _required(cls: type[Params], name: str) -> bool:
    field_ = next(f for f in fields(cls) if f.name == name)
    return field_.default is MISSING


def params_to_json(params: Params) -> dict[str, Any]:
    return asdict(params)


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One enabled-or-not rule on one asset, with the state the trigger needs.

    ``last_fired_bar_ms`` is the open time of the bar the rule last fired on; cooldowns count in
    bar time from there, so a replay of the same bars fires the same events.
    """

    id: int
    asset: str
    params: Params
    trigger: Trigger = "once"
    cooldown_minutes: int = 0
    expires_at_ms: int | None = None
    enabled: bool = True
    last_fired_bar_ms: int | None = None

    def __post_init__(self) -> None:
        _choice("trigger", self.trigger, ("once", "every"))
        if isinstance(self.cooldown_minutes, bool) or not isinstance(self.cooldown_minutes, int):
            raise RuleError("cooldown_minutes must be a whole number of minutes", field="cooldown_minutes")
        if not 0 <= self.cooldown_minutes <= MAX_COOLDOWN_MINUTES:
            raise RuleError(
                f"cooldown_minutes must be between 0 and {MAX_COOLDOWN_MINUTES} (30 days)", field="cooldown_minutes"
            )

    @property
    def condition(self) -> Condition:
        return condition_of(self.params)

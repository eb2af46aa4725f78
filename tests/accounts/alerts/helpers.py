"""Small builders shared by the alert tests."""

from __future__ import annotations

from typing import Any

from accounts.alerts.market import MarketState
from accounts.alerts.rules import Params, RuleSpec
from accounts.alerts.triggers import Firing, evaluate_rules
from tests.accounts.alerts.sample import btc_bars

ASSET = "BTCUSDT"


def rule(params: Params, *, id: int = 1, **kwargs: Any) -> RuleSpec:
    kwargs.setdefault("trigger", "every")
    return RuleSpec(id=id, asset=ASSET, params=params, **kwargs)


def state_at(index: int, **kwargs: Any) -> MarketState:
    """The market as it stood when sample bar ``index`` closed."""
    bars = kwargs.pop("bars", btc_bars()).upto(index)
    kwargs.setdefault("price", float(bars.close[-1]))
    return MarketState(asset=ASSET, bars=bars, **kwargs)


def fires(params: Params, state: MarketState, **kwargs: Any) -> list[Firing]:
    return evaluate_rules([rule(params, **kwargs)], state)

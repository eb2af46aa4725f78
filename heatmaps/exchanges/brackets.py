"""Risk-limit brackets as the venues publish them (Bybit risk-limit, OKX position-tiers), in one shape.

Pure Python: no Django. A bracket caps the position a trader may hold at a maintenance margin rate and a
maximum leverage; the first (smallest) bracket is the one retail positions sit in.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RiskBracket:
    max_notional_usd: float | None  # position value cap in USD; None when the venue gives it in contracts
    # and no price was known to convert it
    max_leverage: float
    mmr: float  # maintenance margin rate, a fraction (0.005 = 0.5 %)
    max_size_base: float | None = None  # position cap in the base coin, where the venue states it in size

    def as_json(self) -> dict[str, float | None]:
        out: dict[str, float | None] = {
            "max_notional_usd": self.max_notional_usd,
            "max_leverage": self.max_leverage,
            "mmr": self.mmr,
        }
        if self.max_size_base is not None:
            out["max_size_base"] = self.max_size_base
        return out


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """One instrument's brackets, smallest first."""

    symbol: str
    brackets: tuple[RiskBracket, ...]

    @property
    def first(self) -> RiskBracket:
        return self.brackets[0]

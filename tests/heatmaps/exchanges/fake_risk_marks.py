"""The fake Binance / Bybit / OKX server with the mark-price candle and risk-limit endpoints added.

Mark bars are derived from the series' last-price bars (same open and close, extremes pulled 2 in
towards them: a mark price is smoother than the last trade), so a test can tell the two apart. Risk
limits are the recorded/documented payloads in ``fixtures/`` (Bybit's paged two brackets a page, as
its cursor allows), replaceable per test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from heatmaps.rows import BASE_BAR_MS, CandleRow
from tests.heatmaps.exchanges.fake_exchange import Bar, FakeExchange, Series, _Reply, _s

FIXTURES = Path(__file__).parent / "fixtures"


def mark_bar(bar: Bar) -> tuple[float, float, float, float]:
    return bar.open, round(bar.high - 2, 2), round(bar.low + 2, 2), bar.close


def mark_rows(series: Series, start_ms: int, end_ms: int, *, now_ms: int) -> list[CandleRow]:
    """What a connector should return for [start_ms, end_ms) at ``now_ms`` (closed bars only)."""
    return [
        CandleRow(b.open_time_ms, *mark_bar(b), None, None, None)
        for b in series.bars_between(start_ms, end_ms - 1)
        if b.open_time_ms + BASE_BAR_MS <= now_ms
    ]


class FakeRiskMarkExchange(FakeExchange):
    def __init__(self, series: Series | None = None, **kwargs: Any) -> None:
        super().__init__(series, **kwargs)
        self.bybit_risk_limits: list[dict[str, Any]] = json.loads(
            (FIXTURES / "bybit_risk_limit_linear.json").read_text()
        )["result"]["list"]
        self.okx_position_tiers: list[dict[str, Any]] = json.loads(
            (FIXTURES / "okx_position_tiers_swap.json").read_text()
        )["data"]
        self._routes.update(
            {
                "/fapi/v1/markPriceKlines": self._binance_mark_klines,
                "/v5/market/mark-price-kline": self._bybit_mark_kline,
                "/v5/market/risk-limit": self._bybit_risk_limit,
                "/api/v5/market/history-mark-price-candles": self._okx_mark_candles,
                "/api/v5/public/position-tiers": self._okx_position_tiers,
            }
        )

    def __enter__(self) -> FakeRiskMarkExchange:
        self.start()
        return self

    def _closed_marks(self, lo: int, hi: int) -> list[Bar]:
        return [b for b in self.series.bars_between(lo, hi) if b.open_time_ms <= self.now_ms]

    def _binance_mark_klines(self, p: dict[str, str]) -> Any:
        self._binance_symbol(p)
        if p.get("interval") != "5m":
            raise _Reply(400, {"code": -1120, "msg": "Invalid interval."})
        limit = self._binance_limit(p, 500, 1500)
        bars = self._closed_marks(int(p.get("startTime", 0)), int(p.get("endTime", self.now_ms)))
        bars = bars[:limit] if "startTime" in p else bars[-limit:]
        return [
            [
                b.open_time_ms,
                *(_s(x) for x in mark_bar(b)),
                "0",
                b.open_time_ms + BASE_BAR_MS - 1,
                "0",
                60,
                "0",
                "0",
                "0",
            ]
            for b in bars
        ]

    def _bybit_mark_kline(self, p: dict[str, str]) -> Any:
        limit = self._bybit_check(p, 1000, 200)
        if p.get("interval") != "5":
            raise self._bybit_error(10001, "params error: interval")
        bars = self._closed_marks(int(p.get("start", 0)), int(p.get("end", self.now_ms)))[::-1][:limit]
        rows = [[str(b.open_time_ms), *(_s(x) for x in mark_bar(b))] for b in bars]
        return self._bybit({"category": "linear", "symbol": self.symbols["bybit"], "list": rows})

    def _bybit_risk_limit(self, p: dict[str, str]) -> Any:
        if p.get("category") != "linear":
            raise self._bybit_error(10001, "params error: category")
        rows = [r for r in self.bybit_risk_limits if r["symbol"] == p.get("symbol", r["symbol"])]
        offset = int(p.get("cursor") or 0)
        page = rows[offset : offset + 2]
        more = offset + 2 < len(rows)
        return self._bybit({"category": "linear", "list": page, "nextPageCursor": str(offset + 2) if more else ""})

    def _okx_mark_candles(self, p: dict[str, str]) -> Any:
        limit = self._okx_check(p, 100, 100)
        if p.get("bar") != "5m":
            raise _Reply(200, {"code": "51000", "msg": "Parameter bar error", "data": []})
        after = int(p.get("after", 2**62))
        before = int(p.get("before", -1))
        bars = [b for b in self._closed_marks(before + 1, after - 1) if before < b.open_time_ms < after]
        return self._okx(
            [
                [
                    str(b.open_time_ms),
                    *(_s(x) for x in mark_bar(b)),
                    "1" if b.open_time_ms + BASE_BAR_MS <= self.now_ms else "0",
                ]
                for b in bars[::-1][:limit]
            ]
        )

    def _okx_position_tiers(self, p: dict[str, str]) -> Any:
        if p.get("instType") != "SWAP" or p.get("tdMode") not in ("cross", "isolated"):
            raise _Reply(200, {"code": "51000", "msg": "Parameter instType error", "data": []})
        family = p.get("instFamily", "")
        rows = [t for t in self.okx_position_tiers if t.get("instFamily") == family]
        if not rows:
            raise _Reply(200, {"code": "51001", "msg": "Instrument ID does not exist", "data": []})
        return self._okx(rows)

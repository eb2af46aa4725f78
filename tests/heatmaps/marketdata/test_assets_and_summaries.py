"""Operators' commands: add_asset, importing for an unknown asset, and the closing summary tables."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from heatmaps.models import Asset, Candle
from tests.heatmaps.marketdata.test_import_market_data import KLINE_HEADER, kline_lines, write

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_add_asset_with_validated_defaults() -> None:
    out = run("add_asset", "solusdt", "--exchanges", "bybit,binance, okx", "--reference", "binance")
    sol = Asset.objects.get(symbol="SOLUSDT")
    assert (sol.base, sol.quote, sol.display_name, sol.reference_exchange.code) == (
        "SOL",
        "USDT",
        "SOL perpetual",
        "binance",
    )
    assert sorted(sol.exchanges.values_list("code", flat=True)) == ["binance", "bybit", "okx"]
    assert (sol.tiers, sol.bins) == (Asset._meta.get_field("tiers").default, 400)
    assert "added SOLUSDT" in out and "backfill --asset SOLUSDT" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["SOLUSDT", "--exchanges", "kraken"], "unsupported exchange kraken"),
        (["SOLUSDT", "--exchanges", "binance", "--reference", "okx"], "must be one of the asset's exchanges"),
        (["SOLEUR", "--exchanges", "binance"], "cannot tell base and quote apart"),
        (["so-l/USDT", "--exchanges", "binance"], "symbol in capitals"),
        (["SOLUSDT", "--exchanges", ","], "name at least one exchange"),
    ],
)
def test_add_asset_rejects_nonsense_and_saves_nothing(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run("add_asset", *args)
    assert not Asset.objects.exists()


def test_add_asset_twice_says_it_exists() -> None:
    run("add_asset", "SOLUSDT")
    with pytest.raises(CommandError, match="SOLUSDT exists already"):
        run("add_asset", "SOLUSDT")


def test_import_for_an_unknown_asset_names_the_command_or_creates_it(tmp_path: Path) -> None:
    path = write(tmp_path / "SOLUSDT-5m-2026-01-01.csv", [KLINE_HEADER, *kline_lines(3)])
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_market_data", path, stdout=io.StringIO(), stderr=err)
    assert "add_asset SOLUSDT --exchanges binance" in err.getvalue()
    assert not Asset.objects.exists()
    out = run("import_market_data", path, "--create-asset")
    assert Candle.objects.filter(asset__symbol="SOLUSDT").count() == 3
    assert "SOLUSDT" in out


def test_create_asset_is_all_or_nothing_with_the_file(tmp_path: Path) -> None:
    bad = write(tmp_path / "SOLUSDT-5m-2026-01-01.csv", [KLINE_HEADER, *kline_lines(3), "1,2"])
    with pytest.raises(CommandError):
        run("import_market_data", bad, "--create-asset")
    assert not Asset.objects.exists()


def test_import_summary_counts_missing_bars(btc: Asset, tmp_path: Path) -> None:
    lines = kline_lines(12)
    del lines[4:7]  # three bars missing inside the span
    first = write(tmp_path / "BTCUSDT-5m-2026-01-01.csv", [KLINE_HEADER, *lines[:5]])
    second = write(tmp_path / "BTCUSDT-5m-2026-01-02.csv", [KLINE_HEADER, *lines[5:]])
    out = run("import_market_data", first, second)
    summary = [line.split() for line in out.splitlines() if line.startswith("BTCUSDT")]
    assert summary == [
        [
            "BTCUSDT",
            "binance",
            "klines",
            "2",
            "9",
            "0",
            "9",
            "0",
            "2026-01-01",
            "00:00",
            "UTC",
            "2026-01-01",
            "00:55",
            "UTC",
            "3",
        ]
    ]

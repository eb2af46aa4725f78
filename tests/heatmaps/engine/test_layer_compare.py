"""Modelled against measured liquidation maps: shape on each side of the price, not size."""

from __future__ import annotations

import numpy as np
import pytest

from heatmaps.engine.layer_compare import compare_layers

EDGES = np.linspace(90.0, 110.0, 41)  # 0.5 wide bins around 100
CENTRES = (EDGES[:-1] + EDGES[1:]) / 2


def test_a_scaled_copy_correlates_fully_and_shares_the_same_bands() -> None:
    rng = np.random.default_rng(3)
    long = np.where(CENTRES < 100, rng.random(40), 0.0)
    short = np.where(CENTRES > 100, rng.random(40), 0.0)
    out = compare_layers(edges=EDGES, price=100.0, model_long=long, model_short=short,
                         measured_long=0.2 * long, measured_short=0.2 * short)  # fmt: skip
    for side in ("long", "short"):
        assert out[side].correlation == pytest.approx(1.0)
        assert out[side].model_share_within == pytest.approx(out[side].measured_share_within)
    near = (CENTRES < 100) & (CENTRES >= 99)  # within 1 % below
    assert out["long"].model_share_within["1"] == pytest.approx(long[near].sum() / long.sum())


def test_mass_in_different_places_shows_in_correlation_and_bands() -> None:
    model = np.where((CENTRES > 99) & (CENTRES < 100), 1.0, 0.0)  # all within 1 % below
    measured = np.where(CENTRES < 92, 1.0, 0.0)  # all far below
    out = compare_layers(edges=EDGES, price=100.0, model_long=model, model_short=np.zeros(40),
                         measured_long=measured, measured_short=np.zeros(40))  # fmt: skip
    assert out["long"].correlation is not None and out["long"].correlation < 0
    assert out["long"].model_share_within == {"1": 1.0, "5": 1.0}
    assert out["long"].measured_share_within == {"1": 0.0, "5": 0.0}
    assert out["short"].correlation is None and out["short"].model_share_within == {"1": None, "5": None}


def test_usd_within_the_bands_is_the_sides_usd_near_the_price() -> None:
    model = np.where(CENTRES < 100, 1.0, 0.0)  # 1 USD in each of the 20 bins below
    out = compare_layers(edges=EDGES, price=100.0, model_long=model, model_short=np.zeros(40),
                         measured_long=3 * model, measured_short=np.zeros(40))  # fmt: skip
    # centres 99.75 and 99.25 lie within 1 %; 95.25 … 99.75 (ten bins) within 5 %
    assert out["long"].model_usd_within == pytest.approx({"1": 2.0, "5": 10.0})
    assert out["long"].measured_usd_within == pytest.approx({"1": 6.0, "5": 30.0})
    assert out["short"].model_usd_within == {"1": 0.0, "5": 0.0}

"""Model v2's inputs: mark-price candles on the bars (kept, aggregated, validated) and the parameters
(defaults, bounds naming the parameter, JSON form, cache key). No Django, no database.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np
import pytest

from heatmaps.engine import (
    BASE_BAR_MS,
    DEFAULT_TIERS,
    BaseBars,
    ModelV2Params,
    TierV2,
    aggregate,
    carry_open_interest,
)

M5 = BASE_BAR_MS
HOUR = 3_600_000
T0 = 1_700_000_000_000 // HOUR * HOUR


def test_mark_candles_are_kept_by_slices_carry_and_aggregation() -> None:
    bars = BaseBars.from_arrays(
        open_time=T0 + M5 * np.arange(6),
        high=[2.0] * 6,
        low=[1.0] * 6,
        close=[1.5] * 6,
        oi_value=[1.0, np.nan, 2.0, 2.0, np.nan, 3.0],
        mark_high=[2.1, np.nan, 2.3, np.nan, np.nan, np.nan],
        mark_low=[0.9, np.nan, 0.7, np.nan, np.nan, np.nan],
    )
    up = aggregate(bars, 3 * M5)
    np.testing.assert_array_equal(up.mark_high, [2.3, np.nan])
    np.testing.assert_array_equal(up.mark_low, [0.7, np.nan])
    np.testing.assert_array_equal(bars.since(T0 + 2 * M5).mark_low, [0.7, np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(carry_open_interest(bars).mark_high, bars.mark_high)
    assert aggregate(BaseBars.from_arrays(open_time=[T0], high=[1.0], low=[1.0], close=[1.0]), HOUR).mark_high is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mark_high": [2.0, 2.0]}, "mark_low"),
        ({"mark_high": [2.0, np.nan], "mark_low": [1.0, 1.0]}, "same bars"),
        ({"mark_high": [2.0, 2.0], "mark_low": [1.0, 3.0]}, "mark_low <= mark_high"),
        ({"mark_high": [2.0, np.inf], "mark_low": [1.0, 1.0]}, "mark_high"),
        ({"mark_high": [2.0, 2.0], "mark_low": [1.0, 0.0]}, "mark_low"),
        ({"mark_high": [2.0], "mark_low": [1.0]}, "mark_high"),
    ],
)
def test_mark_candle_validation(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BaseBars.from_arrays(open_time=[T0, T0 + M5], high=[2.0, 2.0], low=[1.0, 1.0], close=[1.5, 1.5], **kwargs)


# ---------------------------------------------------------------------------------------------
# Parameters


def test_defaults() -> None:
    params = ModelV2Params().validate()
    assert [(t.leverage, t.weight) for t in params.tiers] == list(DEFAULT_TIERS)
    half_lives = [t.half_life_hours for t in params.tiers]
    assert half_lives == sorted(half_lives, reverse=True)  # shorter for higher leverage
    assert half_lives[-1] == 8.0  # one funding interval for 100x
    assert params.mmr == 0.004 and params.max_leverage is None and params.n_bins == 400 and params.pad == 0.10


def tiers(*specs: tuple[float, float, float]) -> tuple[TierV2, ...]:
    return tuple(TierV2(*s) for s in specs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tiers": ()}, "tiers"),
        ({"tiers": [TierV2(5.0, 1.0, 10.0)]}, "tiers must be a tuple"),
        ({"tiers": ((5.0, 1.0, 10.0),)}, "tiers"),
        ({"tiers": tiers((1.0, 1.0, 10.0))}, "leverage"),
        ({"tiers": tiers((201.0, 1.0, 10.0))}, "leverage"),
        ({"tiers": tiers((math.nan, 1.0, 10.0))}, "leverage"),
        ({"tiers": tiers((5.0, 0.5, 10.0), (5.0, 0.5, 10.0))}, "leverage 5x is listed twice"),
        ({"tiers": tiers((5.0, 1.5, 10.0))}, "weight"),
        ({"tiers": tiers((5.0, -0.1, 10.0), (10.0, 1.1, 10.0))}, "weight"),
        ({"tiers": tiers((5.0, 0.5, 10.0), (10.0, 0.4, 10.0))}, "weights must sum to 1"),
        ({"tiers": tiers((5.0, 1.0, 0.5))}, "half_life_hours"),
        ({"tiers": tiers((5.0, 1.0, 3650 * 24 + 1))}, "half_life_hours"),
        ({"tiers": tiers((5.0, 1.0, -math.inf))}, "half_life_hours"),
        ({"tiers": tiers((5.0, 1.0, math.nan))}, "half_life_hours"),
        ({"mmr": -0.001}, "mmr"),
        ({"mmr": 0.051}, "mmr"),
        ({"mmr": 0.011}, "mmr"),  # 100x x 1.1 % >= 1
        ({"max_leverage": 1.0}, "max_leverage"),
        ({"max_leverage": 250.0}, "max_leverage"),
        ({"max_leverage": 4.0}, "max_leverage 4 leaves no tier"),
        ({"tiers": tiers((5.0, 0.0, 10.0), (10.0, 1.0, 10.0)), "max_leverage": 6.0}, "max_leverage"),
        ({"n_bins": 49}, "n_bins"),
        ({"n_bins": 2001}, "n_bins"),
        ({"n_bins": 100.0}, "n_bins"),
        ({"n_bins": True}, "n_bins"),
        ({"pad": 0.51}, "pad"),
        ({"pad": -0.01}, "pad"),
    ],
)
def test_validation_names_the_parameter(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ModelV2Params(**kwargs).validate()  # type: ignore[arg-type]


def test_bounds_themselves_are_allowed() -> None:
    edge = ModelV2Params(
        tiers=tiers((1.0001, 0.5, 1.0), (200.0, 0.5, 3650 * 24.0)), mmr=0.004, n_bins=50, pad=0.0, max_leverage=200
    )
    assert edge.validate() is edge
    # An mmr of 5 % is allowed where the effective tiers allow it: the cap drops the 100x tier.
    assert ModelV2Params(mmr=0.05, max_leverage=10).validate().effective().v1_params().mmr == 0.05
    assert ModelV2Params(n_bins=2000, pad=0.5).validate()


def test_json_round_trip_and_cache_key() -> None:
    params = ModelV2Params(
        tiers=tiers((3.0, 0.25, math.inf), (20.0, 0.75, 12.5)), mmr=0.005, max_leverage=20.0, n_bins=300, pad=0.2
    )
    data = params.to_json()
    assert data["tiers"][0]["half_life_hours"] is None and data["model"] == "v2"
    text = json.dumps(data, allow_nan=False)  # plain JSON: no Infinity
    back = ModelV2Params.from_json(json.loads(text))
    assert back == params
    assert back.to_json() == data
    assert ModelV2Params.from_json(ModelV2Params().to_json()) == ModelV2Params()
    assert ModelV2Params.from_json({}) == ModelV2Params()  # every key defaults
    # The key: stable for equal parameters, different for any change.
    assert params.cache_key() == back.cache_key() == ModelV2Params.from_json(data).cache_key()
    assert len(params.cache_key()) == 16
    variants = [
        dataclasses.replace(params, mmr=0.0051),
        dataclasses.replace(params, max_leverage=None),
        dataclasses.replace(params, n_bins=301),
        dataclasses.replace(params, pad=0.21),
        dataclasses.replace(params, tiers=tiers((3.0, 0.25, 1000.0), (20.0, 0.75, 12.5))),
        dataclasses.replace(params, tiers=tiers((20.0, 0.75, 12.5), (3.0, 0.25, math.inf))),
        ModelV2Params(),
    ]
    keys = {params.cache_key(), *(v.cache_key() for v in variants)}
    assert len(keys) == len(variants) + 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "JSON object"),
        ({"model": "v1"}, "model"),
        ({"mmr": "0.004"}, "mmr"),
        ({"colour": 1}, "colour"),
        ({"tiers": []}, "tiers"),
        ({"tiers": [{"leverage": 5, "weight": 1}]}, "half_life_hours"),
        ({"tiers": [{"leverage": 5, "weight": 1, "half_life_hours": 10, "x": 1}]}, "x"),
        ({"tiers": [{"leverage": True, "weight": 1, "half_life_hours": 10}]}, "leverage"),
        ({"n_bins": 100.5}, "n_bins"),
        ({"max_leverage": "high"}, "max_leverage"),
        ({"pad": 0.9}, "pad"),
    ],
)
def test_from_json_refuses_bad_input_naming_it(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ModelV2Params.from_json(data)  # type: ignore[arg-type]

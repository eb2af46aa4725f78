"""The measured Hyperliquid layer merged into the modelled map: known numbers, bin by bin."""

from __future__ import annotations

import numpy as np
import pytest

from heatmaps.engine.measured_merge import merge_measured, merge_side

MODEL_ALL = np.array([100.0, 50.0, 0.0, 30.0, 10.0])
MODEL_HL = np.array([20.0, 10.0, 0.0, 0.0, 10.0])
MEASURED = np.array([0.0, 6.0, 4.0, 0.0, 2.0])


def test_a_quarter_covered_takes_a_quarter_of_the_hyperliquid_part_off_and_adds_the_measured() -> None:
    out = merge_side(model_all=MODEL_ALL, model_hl=MODEL_HL, measured=MEASURED, coverage=0.25)
    # bin 0: 100 − 5 + 0; bin 1: 50 − 2.5 + 6; bin 2: 0 − 0 + 4; bin 3: 30; bin 4: 10 − 2.5 + 2
    assert out.usd == pytest.approx([95.0, 53.5, 4.0, 30.0, 9.5])
    assert out.usd.sum() == pytest.approx(MODEL_ALL.sum() - 0.25 * MODEL_HL.sum() + MEASURED.sum())
    assert out.measured_share == pytest.approx([0.0, 6 / 53.5, 1.0, 0.0, 2 / 9.5])
    assert out.coverage == 0.25


def test_shares_stay_between_zero_and_one_on_random_maps() -> None:
    rng = np.random.default_rng(7)
    for _ in range(50):
        hl = rng.random(64) * rng.integers(0, 2, 64)
        everything = hl + rng.random(64) * 5
        out = merge_side(model_all=everything, model_hl=hl, measured=rng.random(64) * rng.integers(0, 2, 64),
                         coverage=float(rng.random()))  # fmt: skip
        assert ((out.measured_share >= 0) & (out.measured_share <= 1)).all()
        assert (out.usd >= 0).all()


def test_coverage_zero_leaves_the_model_as_it_is_where_nothing_is_measured() -> None:
    out = merge_side(model_all=MODEL_ALL, model_hl=MODEL_HL, measured=np.zeros(5), coverage=0.0)
    assert out.usd == pytest.approx(MODEL_ALL)
    assert (out.measured_share == 0).all()


def test_coverage_one_replaces_all_of_hyperliquid_by_the_measured() -> None:
    out = merge_side(model_all=MODEL_ALL, model_hl=MODEL_HL, measured=MEASURED, coverage=1.0)
    assert out.usd == pytest.approx(MODEL_ALL - MODEL_HL + MEASURED)
    # a market that is Hyperliquid only, all of it measured: the map is the measured one
    only = merge_side(model_all=MODEL_HL, model_hl=MODEL_HL, measured=MEASURED, coverage=1.0)
    assert only.usd == pytest.approx(MEASURED)
    assert only.measured_share[MEASURED > 0] == pytest.approx(1.0)


def test_coverage_beyond_one_is_taken_as_one_and_no_bin_goes_below_zero() -> None:
    out = merge_side(model_all=np.array([5.0]), model_hl=np.array([8.0]), measured=np.array([1.0]), coverage=1.3)
    assert out.coverage == 1.0
    assert out.usd == pytest.approx([1.0])  # max(5 − 8, 0) + 1


def test_each_side_uses_its_own_coverage() -> None:
    out = merge_measured(
        model_all_long=MODEL_ALL, model_all_short=MODEL_ALL, model_hl_long=MODEL_HL, model_hl_short=MODEL_HL,
        measured_long=np.zeros(5), measured_short=np.zeros(5), long_coverage=0.5, short_coverage=0.1,
    )  # fmt: skip
    assert out["long"].usd.sum() == pytest.approx(MODEL_ALL.sum() - 0.5 * MODEL_HL.sum())
    assert out["short"].usd.sum() == pytest.approx(MODEL_ALL.sum() - 0.1 * MODEL_HL.sum())


def test_bins_that_do_not_line_up_are_refused() -> None:
    with pytest.raises(ValueError, match="bins differ"):
        merge_side(model_all=np.zeros(3), model_hl=np.zeros(4), measured=np.zeros(3), coverage=0.5)
    with pytest.raises(ValueError, match="not a number"):
        merge_side(model_all=np.zeros(3), model_hl=np.zeros(3), measured=np.zeros(3), coverage=float("nan"))

"""Two maps compared: one scale from both, the difference cell by cell, and the walls only one draws."""

from __future__ import annotations

import numpy as np
import pytest

from heatmaps.engine.compare import compare_maps, compare_moments, rebin


def cluster(side: str, low: float, high: float, peak: float) -> dict[str, object]:
    return {"side": side, "price_low": low, "price_high": high, "peak_price": peak, "usd": 1.0}


def test_one_scale_the_difference_and_the_unmatched_walls():
    rng = np.random.default_rng(5)
    a = rng.uniform(0, 10, (6, 8)) * (rng.random((6, 8)) > 0.5)
    b = a * 0.5
    b[0, 0] = 100.0  # B alone is loud somewhere: the shared scale must see it
    walls_a = [cluster("long", 90, 92, 91), cluster("short", 110, 111, 110.5)]
    walls_b = [cluster("long", 89, 93, 90), cluster("long", 100, 101, 100.5)]
    result = compare_maps(a=a, b=b, a_clusters=walls_a, b_clusters=walls_b)
    np.testing.assert_array_equal(result.diff, a - b)
    both = np.concatenate((a.ravel(), b.ravel()))
    assert result.full_usd == pytest.approx(np.percentile(both[both > 0], 99))
    assert result.full_usd > np.percentile(a[a > 0], 99)
    assert result.diff_full_usd == pytest.approx(np.percentile(np.abs(a - b)[np.abs(a - b) > 0], 99))
    assert [c["peak_price"] for c in result.only_a] == [110.5]  # the long wall at 91 lies in B's 89–93
    assert [c["peak_price"] for c in result.only_b] == [100.5]  # B's 90 lies in A's 90–92


def test_maps_on_different_axes_are_refused():
    with pytest.raises(ValueError, match="different axes"):
        compare_maps(a=np.zeros((3, 4)), b=np.zeros((3, 5)), a_clusters=[], b_clusters=[])


# ---- two moments ---------------------------------------------------------------------------------


def test_rebin_splits_each_bin_by_overlap_and_conserves_usd() -> None:
    # Source bins 100-110 (USD 10) and 110-120 (USD 30); target bins of 5 and a wider span.
    moved = rebin(
        usd=np.array([10.0, 30.0]),
        edges=np.array([100.0, 110.0, 120.0]),
        target_edges=np.array([95.0, 100.0, 105.0, 115.0, 120.0, 125.0]),
    )
    # 95-100: none; 100-105: half of the first; 105-115: half of each; 115-120: half of the second.
    np.testing.assert_allclose(moved, [0.0, 5.0, 20.0, 15.0, 0.0])
    assert moved.sum() == pytest.approx(40.0)


def test_rebin_conserves_usd_on_any_wider_grid() -> None:
    rng = np.random.default_rng(7)
    usd = rng.exponential(1e6, 400)
    edges = np.linspace(41_000.0, 49_000.0, 401)
    target = np.linspace(39_500.5, 52_123.25, 523)
    moved = rebin(usd=usd, edges=edges, target_edges=target)
    assert moved.min() >= 0
    assert moved.sum() == pytest.approx(usd.sum(), rel=1e-12)


def test_rebin_refuses_mismatched_edges() -> None:
    with pytest.raises(ValueError):
        rebin(usd=np.ones(3), edges=np.array([1.0, 2.0, 3.0]), target_edges=np.array([1.0, 3.0]))


def test_two_moments_on_one_axis_name_the_swept_level_and_conserve_each_side() -> None:
    # A (earlier): a long level of 5 M at 95-96 and shorts spread over 100-110; its grid 90-110 by 1.
    a_edges = np.linspace(90.0, 110.0, 21)
    a_long = np.zeros(20)
    a_long[5] = 5e6
    a_short = np.zeros(20)
    a_short[10:] = 1e5
    # B (later, price moved up): the long level gone (swept), shorts moved up; its grid 95-125 by 2.
    b_edges = np.linspace(95.0, 125.0, 16)
    b_long = np.zeros(15)
    b_long[0] = 1e6  # 95-97
    b_short = np.zeros(15)
    b_short[10] = 3e6  # 115-117
    swept = {"side": "long", "price_low": 95.0, "price_high": 96.0, "peak_price": 95.5, "usd": 5e6}
    standing = {"side": "long", "price_low": 95.0, "price_high": 97.0, "peak_price": 96.0, "usd": 1e6}
    new = {"side": "short", "price_low": 115.0, "price_high": 117.0, "peak_price": 116.0, "usd": 3e6}
    result = compare_moments(
        a_edges=a_edges,
        a_long=a_long,
        a_short=a_short,
        b_edges=b_edges,
        b_long=b_long,
        b_short=b_short,
        a_clusters=[swept],
        b_clusters=[standing, new],
    )
    assert result.edges[0] == 90.0 and result.edges[-1] == 125.0
    assert np.allclose(np.diff(result.edges), 1.0)  # the finer of the two widths
    for moved, source in (
        (result.a_long, a_long),
        (result.a_short, a_short),
        (result.b_long, b_long),
        (result.b_short, b_short),
    ):
        assert moved.sum() == pytest.approx(source.sum())
    # B's 2-wide bin 95-97 is split 0.5 M / 0.5 M over 95-96 and 96-97.
    at_95 = int(np.searchsorted(result.edges, 95.0))
    assert result.diff_long[at_95] == pytest.approx(5e6 - 0.5e6)
    assert result.diff_long[at_95 + 1] == pytest.approx(-0.5e6)
    assert result.diff_short.sum() == pytest.approx(a_short.sum() - b_short.sum())
    assert result.full_usd == pytest.approx(5e6) and result.diff_full_usd == pytest.approx(4.5e6)
    # The 95.5 level's peak lies in B's 95-97 cluster, so it stands at both: not "only A"...
    assert result.only_a == [] and result.only_b == [new]
    # ...but with B's level gone too, A's level is the one that moment swept.
    gone = compare_moments(
        a_edges=a_edges,
        a_long=a_long,
        a_short=a_short,
        b_edges=b_edges,
        b_long=np.zeros(15),
        b_short=b_short,
        a_clusters=[swept],
        b_clusters=[new],
    )
    assert gone.only_a == [swept] and gone.only_b == [new]

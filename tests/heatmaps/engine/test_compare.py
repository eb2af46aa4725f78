"""Two maps compared: one scale from both, the difference cell by cell, and the walls only one draws."""

from __future__ import annotations

import numpy as np
import pytest

from heatmaps.engine.compare import compare_maps


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

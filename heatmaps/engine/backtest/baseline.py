"""The yardstick: distance alone, as a driftless random walk in log price."""

from __future__ import annotations

import math

import numpy as np

from heatmaps.engine.inputs import (
    FloatArray,
)


def random_walk_upper_first(d_up: FloatArray, d_dn: FloatArray, spread: FloatArray) -> FloatArray:
    """Chance that a driftless random walk in log price touches ``+d_up`` before ``-d_dn``, given
    that it touches one of them within the horizon (``spread`` = sigma x sqrt(horizon)).

    With an unlimited horizon this is ``d_dn / (d_up + d_dn)``; within a horizon the nearer level
    is favoured more, because the further one is often out of reach, and a step only counts when
    one of the two was reached. Exit probabilities by the eigenfunction series of the two-barrier
    problem; when the levels are more than six spreads apart, touching both within the horizon is
    negligible and each side's one-barrier chance 2 x Phi(-d / spread) is used instead.
    """
    width = d_up + d_dn
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        rel = width / spread
        x0 = d_dn / width  # start, as a fraction of the way from the lower level to the upper
        k = np.arange(1, 65, dtype=np.float64)[None, :]
        decay = np.exp(-((k * np.pi / np.where(rel > 6, 6.0, rel)[:, None]) ** 2) / 2)
        sign = 2 * (-1.0) ** (k + 1) / (k * np.pi)
        p_up = x0 - (sign * np.sin(k * np.pi * x0[:, None]) * decay).sum(axis=1)
        p_dn = (1 - x0) - (sign * np.sin(k * np.pi * (1 - x0)[:, None]) * decay).sum(axis=1)
        far = rel > 6
        p_up = np.where(far, _two_tail(d_up / spread), np.maximum(p_up, 0.0))
        p_dn = np.where(far, _two_tail(d_dn / spread), np.maximum(p_dn, 0.0))
        out = p_up / (p_up + p_dn)
    # Levels so far out that neither chance is representable: distance alone, unlimited horizon.
    return np.asarray(np.where(np.isfinite(out), out, d_dn / width), dtype=np.float64)


def _two_tail(z: FloatArray) -> FloatArray:
    """2 x Phi(-z), the chance a driftless walk touches a level z spreads away within the horizon."""
    return np.asarray(
        [math.erfc(v / math.sqrt(2)) if math.isfinite(v) else math.nan for v in z.tolist()], dtype=np.float64
    )

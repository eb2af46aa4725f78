"""Variants ranked on the same test: one row per variant of the map, the best marked only where its
interval excludes every other's, by more than a negligible margin.

The ranking figure is the incremental pseudo-R² of the cluster sizes over distance (higher is
better), scored on each variant's later-half events; the steps, horizons, day blocks and regimes
are the same for every variant, but each variant's events are the walls *its* map pointed at.
"""

from __future__ import annotations

from typing import Any

MARGIN = 0.001  # a pseudo-R² gap smaller than this between intervals is no practical difference


def league_table(rows: list[tuple[str, dict[str, Any]]], *, margin: float = MARGIN) -> list[dict[str, Any]]:
    """``rows``: (variant name, its backtest summary). One dict per variant, in the order given; the
    best is the one whose interval's lower end lies more than ``margin`` above every other's upper end."""
    return mark_best([league_row(name, summary) for name, summary in rows], margin=margin)


def league_row(name: str, summary: dict[str, Any]) -> dict[str, Any]:
    """One variant's row of the table from its backtest summary, not yet ranked (``best`` False)."""
    first, compared = summary["first_reach"], summary["comparison"]
    r2 = compared["pseudo_r2"] if compared else None
    return {
        "variant": name,
        "events": first["events"],
        "share_bigger_first": first["share_bigger_first"],
        "share_bigger_first_ci95": first["share_bigger_first_ci95"],
        "excess_bigger_first": first["excess_bigger_first"],
        "excess_bigger_first_ci95": first["excess_bigger_first_ci95"],
        "scored_events": compared["scored_events"] if compared else 0,
        "log_loss_difference": compared["log_loss_difference"] if compared else None,
        "log_loss_difference_ci95": compared["log_loss_difference_ci95"] if compared else None,
        "incremental_pseudo_r2": r2["incremental"] if r2 else None,
        "incremental_pseudo_r2_ci95": r2["incremental_ci95"] if r2 else None,
        "best": False,
    }


def mark_best(rows: list[dict[str, Any]], *, margin: float = MARGIN) -> list[dict[str, Any]]:
    """The rows, in their order, with ``best`` set on the one whose interval excludes every other's
    (rows may come from a stored table and rows added later: the mark is made anew over all)."""
    out = [{**row, "best": False} for row in rows]
    scored = [row for row in out if row["incremental_pseudo_r2_ci95"]]
    for row in scored:
        others = [o for o in scored if o is not row]
        if others and all(
            row["incremental_pseudo_r2_ci95"][0] > o["incremental_pseudo_r2_ci95"][1] + margin for o in others
        ):
            row["best"] = True
    return out

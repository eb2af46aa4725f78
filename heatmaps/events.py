"""Signals the market side sends, so the user side can react without the market side naming it.

``market_data_updated`` (keyword ``asset_id``) is sent after the transaction that stored new bars,
open interest or funding commits, and after each recompute that stored maps of that asset.
"""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

market_data_updated = Signal()


def announce_market_data(asset_id: int) -> None:
    """Send ``market_data_updated`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: market_data_updated.send(sender=announce_market_data, asset_id=asset_id))

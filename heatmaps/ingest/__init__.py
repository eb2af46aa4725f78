"""Getting market data in from the exchanges: ``fetch`` (since the newest stored row, backfill,
gap repair, the ticker) for the REST side on Celery beat, ``recorder`` for the liquidation streams."""

from heatmaps.ingest.fetch import (
    KIND_ALIASES,
    KINDS,
    FetchResult,
    Kind,
    backfill,
    connector_for,
    ingest_since_last,
    ingest_ticker,
    last_stored_ms,
    repair_gaps,
)
from heatmaps.ingest.recorder import Recorder, make_sink, recorders

__all__ = [
    "KINDS",
    "KIND_ALIASES",
    "FetchResult",
    "Kind",
    "Recorder",
    "backfill",
    "connector_for",
    "ingest_since_last",
    "ingest_ticker",
    "last_stored_ms",
    "make_sink",
    "recorders",
    "repair_gaps",
]

"""Live events: published to Redis Streams where data lands, read by the asset page over SSE."""

from heatmaps.live.events import publish_event, publish_user_event, publish_user_events

__all__ = ["publish_event", "publish_user_event", "publish_user_events"]

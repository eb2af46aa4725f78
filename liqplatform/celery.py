import os
from typing import Any

from celery import Celery
from celery.signals import before_task_publish
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liqplatform.settings")

app = Celery("liqplatform")
app.config_from_object("django.conf:settings", namespace="CELERY")
# celery-redbeat looks its settings up by their plain names, which the CELERY_ namespace hides.
app.conf.update(
    redbeat_redis_url=settings.REDIS_URL,
    redbeat_redis_options={},
    redbeat_key_prefix=settings.LIQ_BEAT_KEY_PREFIX,
    redbeat_lock_timeout=settings.LIQ_BEAT_LOCK_TIMEOUT,
)
app.autodiscover_tasks()


@before_task_publish.connect(weak=False)
def _beat_heartbeat(sender: str | None = None, **_: Any) -> None:
    # Only beat publishes the heartbeat task, so this runs in the beat process: beat is alive.
    if sender == "heatmaps.heartbeat":
        from heatmaps.health import BEAT_KEY, record_heartbeat

        record_heartbeat(BEAT_KEY)


def _connect_metrics() -> None:
    from liqplatform.observability import connect_celery_signals

    connect_celery_signals()


_connect_metrics()

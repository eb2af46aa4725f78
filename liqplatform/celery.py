import os
from typing import Any

from celery import Celery
from celery.signals import before_task_publish
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liqplatform.settings")

app = Celery("liqplatform")
app.config_from_object("django.conf:settings", namespace="CELERY")


def _beat_schedule(entries: dict[str, Any]) -> dict[str, Any]:
    """The settings' schedule, each ``{"crontab": {...}}`` made a Celery crontab (the settings, which
    every command loads, do not import Celery)."""
    from celery.schedules import crontab

    return {
        name: {**entry, "schedule": crontab(**entry["schedule"]["crontab"])}
        if isinstance(entry.get("schedule"), dict)
        else entry
        for name, entry in entries.items()
    }


# celery-redbeat looks its settings up by their plain names, which the CELERY_ namespace hides.
app.conf.update(
    beat_schedule=_beat_schedule(settings.CELERY_BEAT_SCHEDULE),
    redbeat_redis_url=settings.REDIS_URL,
    redbeat_redis_options={},
    redbeat_key_prefix=settings.LIQ_BEAT_KEY_PREFIX,
    redbeat_lock_timeout=settings.LIQ_BEAT_LOCK_TIMEOUT,
)
app.autodiscover_tasks()


@app.on_after_finalize.connect(weak=False)
def _import_task_modules(sender: Celery, **_: Any) -> None:
    """Every process that looks a task up by name (a command, a web process) knows every task.

    Autodiscovery only runs where a worker starts; elsewhere a lookup such as
    ``app.tasks["accounts.deliver_events"]`` raised NotRegistered, so a command that stored alert
    events never queued their deliveries. Importing the apps' task modules when the registry is
    first used costs nothing in a process that never queues a task.
    """
    sender.loader.import_default_modules()


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

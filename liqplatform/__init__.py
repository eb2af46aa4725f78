"""The project's wiring. The Celery app (``liqplatform.celery``) is not imported here.

Importing Celery and its broker client costs a manage.py command most of its start-up, and most
commands queue nothing. The modules that queue tasks (``heatmaps.tasks``, ``accounts.tasks``,
``accounts.alerts.evaluation``) import the app first, so it is the current app before any task is
looked up or sent; ``celery -A liqplatform`` finds it as ``liqplatform.celery.app``.
"""

from typing import Any

__all__ = ("celery_app",)


def __getattr__(name: str) -> Any:
    if name == "celery_app":
        from liqplatform.celery import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

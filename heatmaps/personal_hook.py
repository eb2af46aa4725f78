"""The hook through which the user side lends its personal models to the maps.

The market side never imports the user side, so the user side registers two functions at start-up
(``AppConfig.ready``) and ``model=mine:<id>`` is resolved through them. This module imports nothing of
the project, so registering costs a command's start-up nothing.

The resolver contract (``register_personal_models``):

``resolve(user, model_id) -> PersonalModelSpec | None``
    Called only for a signed-in user (``user.is_authenticated``), with the id from ``mine:<id>``
    (a positive int). Return the spec of that user's own model, or None when there is no such model
    *or it belongs to someone else*: the two cases must be indistinguishable, so another user's
    model is never revealed, not even its existence. ``params`` need not be validated (the maps
    validate them); it must not raise for a missing or foreign id. One query at most: it runs on
    every request that asks for the model.

``list_models(user) -> Sequence[PersonalModelSpec]``
    The signed-in user's own models, in the order the model switcher lists them (name order is
    fine). Called only for a signed-in user; an empty sequence when they have none.

Registering again replaces the earlier pair; ``unregister_personal_models`` removes it, and
``personal_models_registered`` puts another pair in place for a while (a test's own) and restores the
previous. Without a registration ``mine:<id>`` is an unknown model and the switcher lists none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PersonalModelSpec:
    """A user's model as the maps see it: its id (for ``mine:<id>``), its name (for titles) and its
    model-v2 parameters (``heatmaps.engine.model_v2.ModelV2Params``)."""

    id: int
    name: str
    params: Any  # ModelV2Params


PersonalResolver = Callable[[Any, int], PersonalModelSpec | None]
PersonalLister = Callable[[Any], Sequence[PersonalModelSpec]]


@dataclass(frozen=True)
class _Hook:
    resolve: PersonalResolver
    list_models: PersonalLister


_hook: _Hook | None = None


def register_personal_models(*, resolve: PersonalResolver, list_models: PersonalLister) -> None:
    """Let ``model=mine:<id>`` and the model switcher reach the user side's models (see the module's
    docstring for the contract). Call from ``AppConfig.ready``."""
    global _hook
    _hook = _Hook(resolve=resolve, list_models=list_models)


def unregister_personal_models() -> None:
    global _hook
    _hook = None


@contextmanager
def personal_models_registered(*, resolve: PersonalResolver, list_models: PersonalLister) -> Iterator[None]:
    """Another pair registered for the duration (a test's own resolver), the previous one restored after."""
    global _hook
    previous = _hook
    register_personal_models(resolve=resolve, list_models=list_models)
    try:
        yield
    finally:
        _hook = previous


def signed_in(user: Any) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False))


def personal_model(*, user: Any, model_id: int) -> PersonalModelSpec | None:
    """The signed-in user's own model ``model_id``; None for anyone else's, an unknown id, an
    anonymous visitor or no registered hook."""
    if _hook is None or not signed_in(user):
        return None
    return _hook.resolve(user, model_id)


def list_personal_models(user: Any) -> list[PersonalModelSpec]:
    """The signed-in user's own models for the model switcher; empty for anyone else."""
    if _hook is None or not signed_in(user):
        return []
    return list(_hook.list_models(user))

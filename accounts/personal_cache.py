"""A trader's own small data — their lists, which of them hold each asset, their annotations of an
asset, their models — kept in the cache, so the personal pieces filled into every page they read cost
cache reads instead of queries.

Each entry is keyed by the user's id and a per-user generation. Every write of that data bumps the
generation once its transaction has committed: the services' writes, and (through the model signals
registered in accounts.apps) any other save or delete of those rows, the admin's included. It is
bumped at the write, so the writing transaction reads its own change, and again after the commit: a
read of the old rows racing the commit is then cached under a generation already abandoned. Bulk writes that send
no signals (the lists' bulk item updates) bump explicitly; anything else is bounded by the entries'
lifetime.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.db import transaction

LIFETIME_SECONDS = 300
_MISSING = object()


def _generation_key(user_id: int) -> str:
    return f"personal-gen:{user_id}"


def personal_cached[T](user: Any, part: str, compute: Callable[[], T]) -> T:
    """``compute()`` for this user, cached until their next write (or the entry's lifetime). The key
    carries when the account was made as well as its id: a database made afresh (tests, a restore) reuses
    ids, and must never be served another incarnation's rows from a cache that outlived it."""
    generation = cache.get(_generation_key(user.pk), 0)
    key = f"personal:{user.pk}:{user.date_joined.timestamp():.6f}:{generation}:{part}"
    found: Any = cache.get(key, _MISSING)
    if found is _MISSING:
        found = compute()
        cache.set(key, found, LIFETIME_SECONDS)
    return found


def personal_changed(user_id: int | None) -> None:
    """The user's lists, annotations or models changed in the current transaction: their cached
    pieces are read afresh from now on (what this transaction reads next) and again once it commits."""
    if user_id is not None:
        _bump(user_id)
        transaction.on_commit(lambda: _bump(user_id))


def _bump(user_id: int) -> None:
    key = _generation_key(user_id)
    cache.add(key, 0, timeout=None)
    try:
        cache.incr(key)
    except ValueError:  # evicted between the two calls: any new value abandons the old entries
        cache.set(key, 1, timeout=None)

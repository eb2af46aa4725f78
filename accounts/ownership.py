"""The one rule every personal lookup follows: another user's object is a 404, never a 403."""

from __future__ import annotations

from django.db.models import Model, QuerySet
from django.http import Http404


def owned_or_404[M: Model](queryset: QuerySet[M], raw_id: int | str, *, what: str) -> M:
    """The row with this id in `queryset` (already scoped to the user); a missing id, another user's
    or a non-number is a 404 saying "No such <what>", so nobody learns whether it exists."""
    try:
        pk = int(raw_id)
    except (TypeError, ValueError):
        raise Http404(f"No such {what}") from None
    row = queryset.filter(pk=pk).first()
    if row is None:
        raise Http404(f"No such {what}")
    return row

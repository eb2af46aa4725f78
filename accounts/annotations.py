"""Annotations: a trader's own levels, zones and notes drawn over an asset's heat map.

Keyword-only functions shared by the pages, the JSON API and the demo command. Bad input raises
django.core.exceptions.ValidationError with every problem keyed by its field, and nothing is saved.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import COLOR_PATTERN, Annotation, User
from accounts.ownership import owned_or_404
from heatmaps.models import Asset

MAX_ANNOTATIONS = 500
LABEL_MAX_LENGTH = Annotation._meta.get_field("label").max_length or 80
DEFAULT_COLOR = "#58a6ff"
KINDS = [choice.value for choice in Annotation.Kind]
_COLOR = re.compile(COLOR_PATTERN)


@dataclass(frozen=True)
class AnnotationFields:
    """One annotation's values, checked and normalised, ready to store."""

    asset: Asset
    kind: str
    price: float
    price_high: float | None
    time: datetime | None
    label: str
    color: str


def annotations_for_user(*, user: User, asset: Asset | None = None) -> QuerySet[Annotation]:
    annotations = Annotation.objects.filter(user=user).select_related("asset")
    if asset is not None:
        annotations = annotations.filter(asset=asset)
    return annotations.order_by("asset__symbol", "-price", "id")


def get_annotation_for_user(*, user: User, annotation_id: int | str) -> Annotation:
    """The user's own annotation; another user's id, a missing one or a non-number is a 404 (never a 403)."""
    return owned_or_404(Annotation.objects.select_related("asset").filter(user=user), annotation_id, what="annotation")


@transaction.atomic
def annotation_create(
    *,
    user: User,
    asset: str,
    kind: str,
    price: float | None,
    price_high: float | None = None,
    time: datetime | None = None,
    label: str = "",
    color: str = DEFAULT_COLOR,
) -> Annotation:
    """`asset` is a symbol; `price` is a level's price, a zone's low edge or where a note sits."""
    fields = clean_annotation(
        asset=asset, kind=kind, price=price, price_high=price_high, time=time, label=label, color=color
    )
    # Locking the user row serialises concurrent creates, so the limit cannot be overshot.
    User.objects.select_for_update().filter(pk=user.pk).first()
    if Annotation.objects.filter(user=user).count() >= MAX_ANNOTATIONS:
        raise ValidationError(
            {"kind": f"You already have {MAX_ANNOTATIONS} annotations, the most allowed; delete some first."}
        )
    return Annotation.objects.create(user=user, **fields.__dict__)


@transaction.atomic
def annotation_update(
    *,
    annotation: Annotation,
    asset: str,
    kind: str,
    price: float | None,
    price_high: float | None,
    time: datetime | None,
    label: str,
    color: str,
) -> Annotation:
    """Replace every field (a partial change merges with the stored values before calling this)."""
    fields = clean_annotation(
        asset=asset, kind=kind, price=price, price_high=price_high, time=time, label=label, color=color
    )
    for name, value in fields.__dict__.items():
        setattr(annotation, name, value)
    annotation.save()
    return annotation


def annotation_delete(*, annotation: Annotation) -> None:
    annotation.delete()


def clean_annotation(
    *,
    asset: str,
    kind: str,
    price: float | None,
    price_high: float | None,
    time: datetime | None,
    label: str,
    color: str,
) -> AnnotationFields:
    """Check every field, collect every problem, and drop the fields the kind does not use."""
    errors: dict[str, str] = {}
    symbol = (asset or "").strip().upper()
    found = Asset.objects.filter(symbol=symbol, enabled=True).first() if symbol else None
    if found is None:
        errors["asset"] = f"Unknown or disabled asset: {symbol or '(none given)'}."
    if kind not in KINDS:
        errors["kind"] = f"Choose a kind: {', '.join(KINDS)}."
    if not _positive(price):
        errors["price"] = "Give a price above 0." if kind != "zone" else "Give the zone's low price, above 0."
    if kind == "zone":
        if not _positive(price_high):
            errors["price_high"] = "Give the zone's high price, above 0."
        elif _positive(price) and price_high <= price:  # type: ignore[operator]
            errors["price_high"] = "The zone's high price must be above its low price."
    if kind == "note":
        if time is None:
            errors["time"] = "Give the note's time."
        elif timezone.is_naive(time):
            errors["time"] = "Give the note's time with a time zone, e.g. 2026-01-30T14:05Z."
    clean_label = (label or "").strip()
    if len(clean_label) > LABEL_MAX_LENGTH:
        errors["label"] = f"Keep the label to {LABEL_MAX_LENGTH} characters (this one has {len(clean_label)})."
    clean_color = (color or DEFAULT_COLOR).strip().lower()
    if not _COLOR.match(clean_color):
        errors["color"] = "Give the colour as #rrggbb, e.g. #58a6ff."
    if errors:
        raise ValidationError(errors)
    assert found is not None and price is not None  # checked above; narrows the types
    return AnnotationFields(
        asset=found,
        kind=kind,
        price=float(price),
        price_high=float(price_high) if kind == "zone" and price_high is not None else None,
        time=time if kind == "note" else None,
        label=clean_label,
        color=clean_color,
    )


def _positive(value: float | None) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0

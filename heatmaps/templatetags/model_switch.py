"""The model switcher's "My models": the signed-in trader's own models and a "Model settings…" link to
where they are made, a personal piece of a market page (a hole in every shared render, filled per
request), so a visitor never sees it and each trader sees their own."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.safestring import SafeString

from heatmaps.views.asset import my_models_piece

register = template.Library()


@register.simple_tag(takes_context=True)
def my_models(context: template.Context, switcher: dict[str, Any] | None) -> SafeString:
    return my_models_piece(context.get("request"), switcher)

"""The model switcher's "My models": the signed-in trader's own models and a "Model settings…" link to
where they are made, a personal piece of a market page (a hole in every shared render, filled per
request), so a visitor never sees it and each trader sees their own."""

from __future__ import annotations

from typing import Any

from django import template
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from heatmaps.personal_hook import signed_in
from heatmaps.views.asset import my_model_links
from heatmaps.views.trader_cache import personal_hole

register = template.Library()


@register.simple_tag(takes_context=True)
def my_models(context: template.Context, switcher: dict[str, Any] | None) -> SafeString:
    request = context.get("request")
    hole = personal_hole(request, "{% load model_switch %}{% my_models switcher %}", switcher=switcher)
    if hole is not None:
        return hole
    if request is None or not signed_in(request.user):
        return mark_safe("")
    links = my_model_links(request.user, switcher)
    path = (switcher or {}).get("path", "")
    return mark_safe(render_to_string("heatmaps/_my_model_links.html", {"links": links, "path": path}))

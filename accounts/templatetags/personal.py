"""The signed-in user's pieces of every page's frame, and how a personal piece is left out of a page
shared between traders.

``{% account_nav %}`` is the header's account part (watchlists, bell, name, sign out; sign in and
up for visitors) and ``{% page_messages %}`` the messages above the content. On a market page
rendered once for many traders (heatmaps/views/trader_cache.py) each of these, the star and the
annotations panel is a hole, rendered for each trader into the shared page: `personal_piece`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import template
from django.utils.safestring import SafeString, mark_safe

from heatmaps.views.trader_cache import personal_hole

register = template.Library()


def personal_piece(
    context: template.Context,
    template_name: str,
    values: Callable[[], dict[str, Any]] | None,
    *,
    fill: str,
    **market: Any,
) -> SafeString:
    """`template_name` rendered for the user of this request; in a page shared between traders, a hole
    that `fill` (the tag again: "{% load watchlists %}{% star_button asset %}") fills with `market`.

    `values` is the piece's own context, as an inclusion tag's (with the page's CSRF token); None
    renders it with the page's whole context, as an include. It is only called when the piece is
    rendered: in a shared render it would read the stand-in user and abandon the sharing."""
    hole = personal_hole(context.get("request"), fill, **market)
    if hole is not None:
        return hole
    assert context.template is not None  # a tag renders inside a template
    piece = context.template.engine.get_template(template_name)
    if values is None:
        with context.push():
            return mark_safe(piece.render(context))
    own = context.new(values())
    csrf_token = context.get("csrf_token")
    if csrf_token is not None:
        own["csrf_token"] = csrf_token
    return mark_safe(piece.render(own))


@register.simple_tag(takes_context=True)
def account_nav(context: template.Context) -> SafeString:
    return personal_piece(context, "accounts/_account_nav.html", None, fill="{% load personal %}{% account_nav %}")


@register.simple_tag(takes_context=True)
def page_messages(context: template.Context) -> SafeString:
    return personal_piece(context, "accounts/_messages.html", None, fill="{% load personal %}{% page_messages %}")

"""The signed-in user's own pages. Sign-up, sign-in and email management are allauth's (/accounts/)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from allauth.account.models import EmailAddress
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_htmx.middleware import HtmxDetails

from accounts.forms import ApiTokenForm, ProfileForm, add_service_errors
from accounts.models import User
from accounts.services import profile_update
from accounts.tokens import api_token_create, api_token_revoke, api_tokens_for_user, get_api_token_for_user
from accounts.validators import time_zone_choices


class AuthenticatedHttpRequest(HttpRequest):
    user: User
    htmx: HtmxDetails


@login_required
def profile(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    form: ProfileForm | None = None
    if request.method == "POST":
        form = ProfileForm(request.POST)
        if form.is_valid():
            try:
                profile_update(
                    user=user,
                    time_zone=form.cleaned_data["time_zone"],
                    default_timeframe=form.cleaned_data["default_timeframe"],
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, "Profile saved.")
                return redirect("accounts:profile")
        messages.error(request, "Nothing was saved: correct the marked fields.")
    return _render_profile(request, form=form)


def _render_profile(
    request: AuthenticatedHttpRequest,
    *,
    form: ProfileForm | None = None,
    token_form: ApiTokenForm | None = None,
    new_token: str = "",
    status: int = 200,
) -> HttpResponse:
    """The whole page, or only its API-token section for htmx."""
    user = request.user
    ctx: dict[str, Any] = {
        "tokens": list(api_tokens_for_user(user=user)),
        "token_form": token_form or ApiTokenForm(),
        "new_token": new_token,
        "now": timezone.now(),
        "api_docs_url": reverse("api-docs"),
    }
    if request.htmx:
        return render(request, "account/profile.html#api-tokens", ctx, status=status)
    ctx.update(
        form=form or ProfileForm(initial={"time_zone": user.time_zone, "default_timeframe": user.default_timeframe}),
        primary_email=EmailAddress.objects.filter(user=user, primary=True).first(),
        time_zones=time_zone_choices(),
    )
    return render(request, "account/profile.html", ctx, status=status)


@login_required
@require_POST
def api_token_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Create a token and show it on this one response; it is stored hashed and cannot be shown again."""
    form = ApiTokenForm(request.POST)
    if form.is_valid():
        days = form.cleaned_data["expires_in"]
        expires_at = timezone.now() + timedelta(days=days) if days else None
        try:
            _, raw = api_token_create(user=request.user, name=form.cleaned_data["name"], expires_at=expires_at)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            # No redirect: the token exists nowhere else to be shown after one.
            return _render_profile(request, new_token=raw)
    # htmx swaps only 2xx answers in: the form with its errors comes back as a 200 there.
    return _render_profile(request, token_form=form, status=200 if request.htmx else 400)


@login_required
@require_POST
def api_token_revoke_view(request: AuthenticatedHttpRequest, token_id: int) -> HttpResponse:
    token = get_api_token_for_user(user=request.user, token_id=token_id)
    api_token_revoke(token=token)
    if request.htmx:
        return _render_profile(request)
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect(f"{reverse('accounts:profile')}#api-tokens")

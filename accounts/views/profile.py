"""The signed-in user's own pages. Sign-up, sign-in and email management are allauth's (/accounts/)."""

from __future__ import annotations

from allauth.account.models import EmailAddress
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts.forms import ProfileForm
from accounts.models import User
from accounts.services import profile_update
from accounts.validators import time_zone_choices


class AuthenticatedHttpRequest(HttpRequest):
    user: User


@login_required
def profile(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
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
    else:
        form = ProfileForm(initial={"time_zone": user.time_zone, "default_timeframe": user.default_timeframe})
    primary_email = EmailAddress.objects.filter(user=user, primary=True).first()
    ctx = {
        "form": form,
        "primary_email": primary_email,
        "time_zones": time_zone_choices(),
    }
    return render(request, "account/profile.html", ctx)

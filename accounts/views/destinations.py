"""Alert destinations on the profile page: add one (Telegram chat, Discord channel), send it a
test message, switch it on again, delete it. Reached through get_destination_for_user, so another
user's id is a 404. The secrets entered are never rendered back: the page shows the hint only."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.alerts.channels import DESTINATION_FIELDS
from accounts.alerts.destinations import (
    destination_create,
    destination_delete,
    destination_send_test,
    get_destination_for_user,
)
from accounts.views.common import AuthedHttpRequest


def _back() -> HttpResponseRedirect:
    return HttpResponseRedirect(f"{reverse('accounts:profile')}#alert-destinations")


@login_required
@require_POST
def destination_new(request: AuthedHttpRequest) -> HttpResponse:
    kind = request.POST.get("kind", "")
    names = [name for name, _, _ in DESTINATION_FIELDS.get(kind, ())]
    fields = {name: request.POST.get(f"{kind}_{name}", "") for name in names}
    try:
        destination = destination_create(user=request.user, kind=kind, name=request.POST.get("name", ""), fields=fields)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, f"Destination not added: {message}")
        return _back()
    messages.success(request, f"Destination “{destination.name}” added. Send it a test to check it works.")
    return _back()


@login_required
@require_POST
def destination_test(request: AuthedHttpRequest, destination_id: int) -> HttpResponse:
    destination = get_destination_for_user(user=request.user, destination_id=destination_id)
    outcome = destination_send_test(destination=destination)
    if outcome.ok:
        messages.success(request, f"Test message sent to “{destination.name}”.")
    else:
        messages.error(request, f"Test message to “{destination.name}” failed: {outcome.detail}.")
    return _back()


@login_required
@require_POST
def destination_delete_view(request: AuthedHttpRequest, destination_id: int) -> HttpResponse:
    destination = get_destination_for_user(user=request.user, destination_id=destination_id)
    destination_delete(destination=destination)
    messages.success(request, f"Destination “{destination.name}” deleted; its rules no longer send to it.")
    return _back()

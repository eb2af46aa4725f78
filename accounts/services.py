"""What changes a user's account, in one place: views, commands and the admin call these."""

from __future__ import annotations

from allauth.account.models import EmailAddress
from django.db import transaction

from accounts.models import User
from accounts.validators import validate_time_zone, validate_timeframe


def profile_update(*, user: User, time_zone: str, default_timeframe: str) -> User:
    """Save the display preferences; raises ValidationError (and saves nothing) on an unknown value."""
    validate_time_zone(time_zone)
    validate_timeframe(default_timeframe)
    user.time_zone = time_zone
    user.default_timeframe = default_timeframe
    user.save(update_fields=["time_zone", "default_timeframe"])
    return user


@transaction.atomic
def demo_account_ensure(*, username: str, password: str, email: str, staff: bool) -> tuple[User, bool]:
    """A demo account (the superuser of `make run`, or the demo trader) with a verified primary email
    so the site's mandatory verification lets it sign in. An existing user keeps its password;
    returns (user, created)."""
    user, created = User.objects.get_or_create(
        username=username, defaults={"is_staff": staff, "is_superuser": staff, "email": email}
    )
    if created:
        user.set_password(password)
        user.save(update_fields=["password"])
    elif not user.email:
        user.email = email
        user.save(update_fields=["email"])
    address = EmailAddress.objects.filter(user=user, email__iexact=user.email).first()
    if address is None:
        address = EmailAddress(user=user, email=user.email)
    address.verified = True
    address.save()
    address.set_as_primary()
    return user, created

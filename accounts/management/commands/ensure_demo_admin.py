from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand

from accounts.services import demo_account_ensure


class Command(BaseCommand):
    help = (
        "Create the demo administrator if missing (LIQ_ADMIN_USER / LIQ_ADMIN_PASSWORD / LIQ_ADMIN_EMAIL, "
        "or defaults), with a verified email so it can sign in on the site as well as in the admin."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        username = os.environ.get("LIQ_ADMIN_USER", "admin")
        password = os.environ.get("LIQ_ADMIN_PASSWORD", "liqplatform-demo")
        email = os.environ.get("LIQ_ADMIN_EMAIL", "admin@localhost")
        user, created = demo_account_ensure(username=username, password=password, email=email, staff=True)
        if created:
            self.stdout.write(f"Demo admin created: user {username!r}, password {password!r}, email {user.email}")
        else:
            self.stdout.write(
                f"Demo admin: user {username!r} (already existed; its password was left as it was — "
                f"{password!r} unless changed since)"
            )

from __future__ import annotations

import os
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the demo administrator if missing (LIQ_ADMIN_USER / LIQ_ADMIN_PASSWORD, or defaults)."

    def handle(self, *args: Any, **options: Any) -> None:
        username = os.environ.get("LIQ_ADMIN_USER", "admin")
        password = os.environ.get("LIQ_ADMIN_PASSWORD", "liqplatform-demo")
        User = get_user_model()
        user, created = User.objects.get_or_create(username=username, defaults={"is_staff": True, "is_superuser": True})
        if created:
            user.set_password(password)
            user.save(update_fields=["password"])
            self.stdout.write(f"Demo admin created: user {username!r}, password {password!r}")
        else:
            self.stdout.write(
                f"Demo admin: user {username!r} (already existed; its password was left as it was — "
                f"{password!r} unless changed since)"
            )

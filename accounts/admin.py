from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts.models import PersonalModel, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Staff manage users here; their email addresses (verified or not) are under Accounts › Email addresses,
    and login lockouts under Axes › Access attempts (delete an attempt to lift its lockout)."""

    fieldsets = (
        *(DjangoUserAdmin.fieldsets or ()),
        ("Display preferences", {"fields": ("time_zone", "default_timeframe")}),
    )
    list_display = ("username", "email", "is_active", "is_staff", "date_joined", "last_login", "time_zone")
    list_filter = ("is_staff", "is_superuser", "is_active", "default_timeframe")


@admin.register(PersonalModel)
class PersonalModelAdmin(admin.ModelAdmin):
    """Traders' own heat-map models (Model settings); the parameters are the engine's JSON."""

    list_display = ("name", "user", "created_at", "updated_at")
    list_select_related = ("user",)
    search_fields = ("name", "user__username")
    readonly_fields = ("created_at", "updated_at")

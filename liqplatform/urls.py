from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # allauth: sign-up, sign-in, sign-out, email verification and management, password change and reset.
    path("accounts/", include("allauth.urls")),
    # The user's own pages.
    path("account/", include("accounts.urls")),
    path("", include("heatmaps.urls")),
]

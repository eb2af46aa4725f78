from django.urls import path

from heatmaps import views

app_name = "heatmaps"
urlpatterns = [
    path("", views.index, name="index"),
    path("healthz", views.healthz, name="healthz"),
]

from django.urls import path

from heatmaps import api, views

app_name = "heatmaps"
urlpatterns = [
    path("", views.index, name="index"),
    path("assets/<str:symbol>/", views.asset_page, name="asset"),
    path("model/", views.model_page, name="model"),
    path("api/assets/", api.asset_list, name="api-assets"),
    path("api/assets/<str:symbol>/heatmaps/<str:timeframe>/", api.heatmap_detail, name="api-heatmap"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
]

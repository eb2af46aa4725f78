from django.urls import path

from heatmaps import views
from heatmaps.live.stream import asset_events, market_events
from heatmaps.views.compare import compare_page
from heatmaps.views.model_card import model_card_page

app_name = "heatmaps"
urlpatterns = [
    path("", views.index, name="index"),
    path("assets/<str:symbol>/", views.asset_page, name="asset"),
    path("assets/<str:symbol>/compare/", compare_page, name="compare"),
    path("assets/<str:symbol>/events", asset_events, name="asset-events"),
    path("markets/events", market_events, name="market-events"),
    path("model/", views.model_page, name="model"),
    path("model/method/", views.model_method, name="model-method"),
    path("model/<str:symbol>/", model_card_page, name="model-card"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
]

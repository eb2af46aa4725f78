"""Everything under /api/v1/: the public market endpoints (heatmaps) and the personal ones (accounts)."""

from django.urls import path

from accounts import account_api, alert_api, model_api
from accounts import api as personal
from heatmaps import v1 as market
from heatmaps.api import breakdown, compare, measured, model_card

app_name = "api"
urlpatterns = [
    path("assets/", market.asset_list, name="assets"),
    path("assets/<str:symbol>/", market.asset_detail, name="asset"),
    path("assets/<str:symbol>/heatmap/", market.heatmap, name="heatmap"),
    path("assets/<str:symbol>/heatmap/compare/", compare.heatmap_compare, name="heatmap-compare"),
    path("assets/<str:symbol>/heatmap/breakdown/", breakdown.heatmap_breakdown, name="heatmap-breakdown"),
    path("assets/<str:symbol>/candles/", market.CandleSeries.as_view(), name="candles"),
    path("assets/<str:symbol>/open-interest/", market.OpenInterestSeries.as_view(), name="open-interest"),
    path("assets/<str:symbol>/funding/", market.FundingSeries.as_view(), name="funding"),
    path("assets/<str:symbol>/liquidations/", market.LiquidationSeries.as_view(), name="liquidations"),
    path("assets/<str:symbol>/measured/", measured.measured, name="measured"),
    path("assets/<str:symbol>/model-card/", model_card.model_card, name="model-card"),
    path("me/", account_api.me, name="me"),
    path("tokens/", account_api.token_collection, name="tokens"),
    path("tokens/<int:token_id>/", account_api.token_item, name="token"),
    path("watchlists/", personal.watchlist_collection, name="watchlists"),
    path("watchlists/<int:watchlist_id>/", personal.watchlist_item, name="watchlist"),
    path("annotations/", personal.annotation_collection, name="annotations"),
    path("annotations/<int:annotation_id>/", personal.annotation_item, name="annotation"),
    path("alert-rules/", alert_api.alert_rule_collection, name="alert-rules"),
    path("alert-rules/<int:rule_id>/", alert_api.alert_rule_item, name="alert-rule"),
    path("alert-rules/<int:rule_id>/record/", alert_api.alert_rule_record, name="alert-rule-record"),
    path("alerts/", alert_api.alert_event_collection, name="alerts"),
    path("alerts/<int:event_id>/", alert_api.alert_event_item, name="alert"),
    path("models/", model_api.model_collection, name="models"),
    path("models/<int:model_id>/", model_api.model_item, name="model"),
]

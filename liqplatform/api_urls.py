"""Everything under /api/v1/. The personal endpoints live here now; market endpoints join them later."""

from django.urls import path

from accounts import alert_api
from accounts import api as personal

app_name = "api"
urlpatterns = [
    path("watchlists/", personal.watchlist_collection, name="watchlists"),
    path("watchlists/<int:watchlist_id>/", personal.watchlist_item, name="watchlist"),
    path("annotations/", personal.annotation_collection, name="annotations"),
    path("annotations/<int:annotation_id>/", personal.annotation_item, name="annotation"),
    path("alert-rules/", alert_api.alert_rule_collection, name="alert-rules"),
    path("alert-rules/<int:rule_id>/", alert_api.alert_rule_item, name="alert-rule"),
    path("alerts/", alert_api.alert_event_collection, name="alerts"),
    path("alerts/<int:event_id>/", alert_api.alert_event_item, name="alert"),
]

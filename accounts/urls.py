from django.urls import path

from accounts.views import alert_history, alerts, annotations, destinations, personal_models, profile, watchlists

app_name = "accounts"
urlpatterns = [
    path("account/profile/", profile.profile, name="profile"),
    path("account/tokens/", profile.api_token_new, name="api-token-new"),
    path("account/tokens/<int:token_id>/revoke/", profile.api_token_revoke_view, name="api-token-revoke"),
    path("account/models/", personal_models.personal_model_list, name="personal-models"),
    path("account/models/<int:model_id>/", personal_models.personal_model_edit, name="personal-model"),
    path(
        "account/models/<int:model_id>/delete/",
        personal_models.personal_model_delete_view,
        name="personal-model-delete",
    ),
    path("watchlists/", watchlists.watchlist_list, name="watchlists"),
    path("watchlists/star/", watchlists.star, name="star"),
    path("watchlists/<int:watchlist_id>/", watchlists.watchlist_detail, name="watchlist"),
    path("watchlists/<int:watchlist_id>/rename/", watchlists.watchlist_rename_view, name="watchlist-rename"),
    path("watchlists/<int:watchlist_id>/delete/", watchlists.watchlist_delete_view, name="watchlist-delete"),
    path("watchlists/<int:watchlist_id>/items/", watchlists.watchlist_item_add, name="watchlist-item-add"),
    path(
        "watchlists/<int:watchlist_id>/items/<str:symbol>/move/",
        watchlists.watchlist_item_move,
        name="watchlist-item-move",
    ),
    path(
        "watchlists/<int:watchlist_id>/items/<str:symbol>/remove/",
        watchlists.watchlist_item_remove,
        name="watchlist-item-remove",
    ),
    path("annotations/new/", annotations.annotation_new, name="annotation-new"),
    path("annotations/panel/", annotations.annotation_panel, name="annotation-panel"),
    path("annotations/<int:annotation_id>/", annotations.annotation_edit, name="annotation-edit"),
    path("annotations/<int:annotation_id>/delete/", annotations.annotation_delete_view, name="annotation-delete"),
    path("alerts/", alerts.alerts_page, name="alerts"),
    path("alerts/bell/", alerts.alert_bell, name="alert-bell"),
    path("alerts/read-all/", alerts.alerts_read_all, name="alerts-read-all"),
    path("alerts/<int:event_id>/read/", alerts.alert_read, name="alert-read"),
    path("alerts/rules/", alerts.alert_rules, name="alert-rules"),
    path("alerts/rules/new/", alerts.alert_rule_new, name="alert-rule-new"),
    path("alerts/rules/<int:rule_id>/", alerts.alert_rule_edit, name="alert-rule-edit"),
    path("alerts/rules/<int:rule_id>/toggle/", alerts.alert_rule_toggle, name="alert-rule-toggle"),
    path("alerts/rules/<int:rule_id>/delete/", alerts.alert_rule_delete_view, name="alert-rule-delete"),
    path("alerts/rules/<int:rule_id>/test/", alerts.alert_rule_test, name="alert-rule-test"),
    path("alerts/rules/<int:rule_id>/record/", alerts.alert_rule_record, name="alert-rule-record"),
    path("alerts/rules/history/", alert_history.alert_rule_history, name="alert-rule-history"),
    path("account/destinations/", destinations.destination_new, name="alert-destination-new"),
    path(
        "account/destinations/<int:destination_id>/test/",
        destinations.destination_test,
        name="alert-destination-test",
    ),
    path(
        "account/destinations/<int:destination_id>/delete/",
        destinations.destination_delete_view,
        name="alert-destination-delete",
    ),
]

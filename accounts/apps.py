from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from heatmaps.events import market_data_updated

        market_data_updated.connect(_evaluate_alerts, dispatch_uid="accounts.evaluate_alerts")

        from allauth.account.signals import password_reset

        password_reset.connect(_lift_login_ceiling, dispatch_uid="accounts.lift_login_ceiling")

        # A trader's cached pieces (accounts.personal_cache) are read afresh after any save or delete of
        # the rows they are made of, wherever it comes from (services, admin, cascades).
        from django.db.models.signals import post_delete, post_save

        from accounts.models import Annotation, PersonalModel, Watchlist, WatchlistItem

        for model in (Annotation, PersonalModel, Watchlist):
            post_save.connect(
                _owner_changed, sender=model, dispatch_uid=f"accounts.personal_cache.save.{model.__name__}"
            )
            post_delete.connect(
                _owner_changed, sender=model, dispatch_uid=f"accounts.personal_cache.del.{model.__name__}"
            )
        post_save.connect(_list_item_changed, sender=WatchlistItem, dispatch_uid="accounts.personal_cache.save.item")
        post_delete.connect(_list_item_changed, sender=WatchlistItem, dispatch_uid="accounts.personal_cache.del.item")

        # model=mine:<id> on the maps and their model switcher reach the trader's own models through
        # this hook: the market side never imports the user side.
        from accounts.personal_models import list_personal_models, resolve_personal_model
        from heatmaps.personal_hook import register_personal_models

        register_personal_models(resolve=resolve_personal_model, list_models=list_personal_models)


def _evaluate_alerts(sender: object, asset_id: int, **kwargs: object) -> None:
    """New market data of an asset: queue (debounced) the evaluation of its alert rules, nothing more."""
    from accounts.tasks import schedule_evaluation

    schedule_evaluation(asset_id)


def _lift_login_ceiling(sender: object, user: object, **kwargs: object) -> None:
    """A password reset by email lifts the account's ceiling on wrong passwords (accounts.login_ceiling)."""
    from accounts.login_ceiling import lift_ceiling

    lift_ceiling(user.get_username())  # type: ignore[attr-defined]


def _owner_changed(sender: object, instance: object, **kwargs: object) -> None:
    from accounts.personal_cache import personal_changed

    personal_changed(getattr(instance, "user_id", None))


def _list_item_changed(sender: object, instance: object, **kwargs: object) -> None:
    from accounts.models import Watchlist
    from accounts.personal_cache import personal_changed

    # A list deleted with its items has its own signal; its items find no owner here.
    watchlist_id: int | None = getattr(instance, "watchlist_id", None)
    if watchlist_id is not None:
        personal_changed(Watchlist.objects.filter(pk=watchlist_id).values_list("user_id", flat=True).first())

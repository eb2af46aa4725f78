from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from heatmaps.events import market_data_updated

        market_data_updated.connect(_evaluate_alerts, dispatch_uid="accounts.evaluate_alerts")


def _evaluate_alerts(sender: object, asset_id: int, **kwargs: object) -> None:
    """New market data of an asset: queue (debounced) the evaluation of its alert rules, nothing more."""
    from accounts.tasks import schedule_evaluation

    schedule_evaluation(asset_id)

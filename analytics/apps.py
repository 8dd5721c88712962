from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Analytics"

    def ready(self):
        from analytics.receivers import refresh_after_rollups
        from telemetry.signals import rollups_refreshed

        rollups_refreshed.connect(refresh_after_rollups, dispatch_uid="analytics.refresh_after_rollups")

from django.apps import AppConfig


class TelemetryConfig(AppConfig):
    name = "telemetry"
    verbose_name = "Telemetry"

    def ready(self):
        from assets.signals import installations_changed
        from telemetry.receivers import follow_installations

        installations_changed.connect(follow_installations, dispatch_uid="telemetry.follow_installations")

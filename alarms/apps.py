from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AlarmsConfig(AppConfig):
    name = "alarms"
    verbose_name = "Alarms"

    def ready(self):
        from alarms.defaults import ensure_defaults_after_migrate
        from alarms.receivers import evaluate_sites_of_stored_batches
        from telemetry.signals import batches_stored

        post_migrate.connect(ensure_defaults_after_migrate, sender=self)
        batches_stored.connect(evaluate_sites_of_stored_batches, dispatch_uid="alarms.evaluate_stored_sites")

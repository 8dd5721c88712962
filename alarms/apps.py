from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AlarmsConfig(AppConfig):
    name = "alarms"
    verbose_name = "Alarms"

    def ready(self):
        from alarms.defaults import ensure_defaults_after_migrate

        post_migrate.connect(ensure_defaults_after_migrate, sender=self)

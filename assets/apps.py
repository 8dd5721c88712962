from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AssetsConfig(AppConfig):
    name = "assets"
    verbose_name = "Assets"

    def ready(self):
        from assets.permissions import sync_roles_after_migrate

        post_migrate.connect(sync_roles_after_migrate, sender=self)

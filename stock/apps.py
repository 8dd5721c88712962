from django.apps import AppConfig
from django.db.models.signals import post_migrate, post_save


class StockConfig(AppConfig):
    name = "stock"
    verbose_name = "Procurement and stock"

    def ready(self):
        from assets.models import ComponentEvent
        from assets.signals import installations_changed
        from stock.permissions import grant_roles_after_migrate
        from stock.receivers import put_away_removed_component, release_installed_components_reservations

        post_migrate.connect(grant_roles_after_migrate, sender=self)
        post_save.connect(put_away_removed_component, sender=ComponentEvent, dispatch_uid="stock.put_away")
        installations_changed.connect(release_installed_components_reservations, dispatch_uid="stock.release")

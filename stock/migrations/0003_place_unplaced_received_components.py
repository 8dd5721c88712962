"""Components received through "Receive shipment" before it asked for a location sit in no stock location.
Give them the default receiving location (the first warehouse), as a stock move recorded now.

Only where that is safe: components in stock or faulty that were never installed and never moved, so they
can only be where deliveries went, the warehouse. A component removed in the field and left unplaced is
wherever its remover left it, one in repair is at the supplier, a retired one is gone: those stay as they
are. Without a warehouse nothing changes.
"""

from django.db import migrations
from django.utils import timezone

NOTE = "Received before deliveries had a location; placed by migration"


def place_unplaced_received_components(apps, schema_editor):
    Component = apps.get_model("assets", "Component")
    StockLocation = apps.get_model("stock", "StockLocation")
    StockMove = apps.get_model("stock", "StockMove")
    warehouse = StockLocation.objects.filter(kind="warehouse").order_by("pk").first()
    if warehouse is None:
        return
    unplaced = Component.objects.filter(
        status__in=["in_stock", "faulty"], installations__isnull=True, stock_moves__isnull=True
    )
    now = timezone.now()
    StockMove.objects.bulk_create(
        StockMove(component=component, to_location=warehouse, moved_at=now, note=NOTE)
        for component in unplaced.order_by("pk")
    )


class Migration(migrations.Migration):
    dependencies = [("stock", "0002_roles"), ("assets", "0007_componentevent_recorded_at")]

    operations = [migrations.RunPython(place_unplaced_received_components, migrations.RunPython.noop)]

"""Bulk import of existing components from CSV or XLSX (django-import-export, in the admin).

Each row is received through assets.services.components_receive, then put into its stock location or
installed in its position on a site through the asset services. The whole file is one transaction: a row
with an error (shown with its row number in the preview) means nothing is imported.
"""

from django.core.exceptions import ValidationError
from import_export import fields, resources

from assets import selectors as asset_selectors
from assets import services as asset_services
from assets.models import Component, Kind, Site
from stock import services
from stock.models import StockLocation

# Receive arguments taken from the row as they are (blank cells: the service's default).
TEXT_COLUMNS = [
    "model_number",
    "manufacturer",
    "supplier",
    "purchase_order",
    "batch",
    "controller_type",
    "notes",
]
# Kinds installed directly in a numbered position of a site, or in a cabinet of one.
ON_SITE = {Kind.CABINET: "cabinet", Kind.MPPT: "number", Kind.INVERTER: "number"}
IN_CABINET = [Kind.CONTROLLER, Kind.BUSBAR]


def _cell(row, name):
    value = row.get(name)
    return "" if value is None else str(value).strip()


def _number(row, name):
    text = _cell(row, name)
    if not text.isdigit():
        raise ValidationError({name: f"Give the {name} number (a whole number), not {text!r}."})
    return int(text)


def _location(row):
    name = _cell(row, "location")
    match = [
        place for place in StockLocation.objects.select_related("warehouse", "site") if str(place) == name
    ]
    if not match:
        raise ValidationError({"location": f"There is no stock location {name!r}; add it first."})
    return match[0]


def _position(row, kind):
    """The position on the site named by the row's site (PMS id), cabinet, dock and number columns."""
    site = Site.objects.filter(pms_id=_cell(row, "site")).first()
    if site is None:
        raise ValidationError({"site": f"There is no site with PMS id {_cell(row, 'site')!r}."})
    if kind in ON_SITE:
        return asset_services.site_position_get_or_create(
            site=site, kind=kind, number=_number(row, ON_SITE[kind])
        )
    if kind not in [*IN_CABINET, Kind.CASE]:
        raise ValidationError({"site": f"{Kind(kind).label}s go into a case: assemble the case instead."})
    cabinet_position = asset_services.site_position_get_or_create(
        site=site, kind=Kind.CABINET, number=_number(row, "cabinet")
    )
    cabinet = asset_selectors.component_in_position_at(position=cabinet_position)
    if cabinet is None:
        raise ValidationError({"cabinet": f"Cabinet {cabinet_position.number} of {site.pms_id} is empty."})
    if kind in IN_CABINET:
        return asset_services.child_position_get(parent=cabinet, kind=kind)
    busbar = asset_selectors.component_in_position_at(
        position=asset_services.child_position_get(parent=cabinet, kind=Kind.BUSBAR)
    )
    if busbar is None:
        raise ValidationError(
            {"cabinet": f"Cabinet {cabinet_position.number} of {site.pms_id} has no busbar."}
        )
    return asset_services.child_position_get(parent=busbar, kind=Kind.CASE, number=_number(row, "dock"))


class ComponentResource(resources.ModelResource):
    """Columns: kind, serial, the descriptive ones, then a stock location, or a site (PMS id) with the
    cabinet, dock or number of the position."""

    # Read from the row by save_instance; declared so that the import page lists them.
    location = fields.Field(column_name="location")
    site = fields.Field(column_name="site")
    cabinet = fields.Field(column_name="cabinet")
    dock = fields.Field(column_name="dock")
    number = fields.Field(column_name="number")

    class Meta:
        model = Component
        import_id_fields = ["kind", "serial"]
        fields = ["kind", "serial", *TEXT_COLUMNS, "received_on", "cost", "warranty_end", "configured_id",
                  "dock_count", "location", "site", "cabinet", "dock", "number"]  # fmt: skip
        use_transactions = True
        skip_diff = True

    def import_data(self, dataset, **kwargs):
        # The confirm step too rolls the whole file back on a row that fails (django-import-export would
        # otherwise skip it and keep the others).
        return super().import_data(dataset, **{**kwargs, "rollback_on_validation_errors": True})

    @staticmethod
    def failures(result) -> list[str]:
        """'Row 3: ...' for each row that failed."""
        failed = [(row.number, "; ".join(row.error.messages)) for row in result.invalid_rows]
        failed += [(number, str(error.error)) for number, errors in result.row_errors() for error in errors]
        return [f"Row {number}: {message}" for number, message in sorted(failed)]

    def save_instance(self, instance, is_create, row, **kwargs):
        if not is_create:
            raise ValidationError({"serial": f"{instance} already exists."})
        if _cell(row, "kind") not in Kind.values:
            raise ValidationError(
                {"kind": f"{_cell(row, 'kind')!r} is not a kind; use one of {', '.join(Kind.values)}."}
            )
        located, placed = bool(_cell(row, "location")), bool(_cell(row, "site"))
        if located == placed:
            raise ValidationError({"location": "Give either a stock location or a site (and its position)."})
        user = kwargs.get("user")
        [component] = asset_services.components_receive(
            kind=instance.kind,
            serials=[instance.serial],
            user=user,
            **{name: getattr(instance, name) for name in TEXT_COLUMNS},
            received_on=instance.received_on,
            cost=instance.cost,
            warranty_end=instance.warranty_end,
            dock_count=instance.dock_count,
            configured_ids={instance.serial: instance.configured_id} if instance.configured_id else None,
        )
        if located:
            services.components_place(
                components=[component], location=_location(row), user=user, note="Imported"
            )
        else:
            # The import records installations that already exist; a case's parts are imported as rows of
            # their own, so a case may be installed before them.
            asset_services.component_install(
                component=component,
                position=_position(row, component.kind),
                user=user,
                reason="Imported",
                confirm_incomplete=True,
            )
        instance.pk = component.pk

"""Who may do what with procurement: the warehouse writes, every role reads (roles: assets.permissions)."""

from django.apps import apps as global_apps
from django.db import DEFAULT_DB_ALIAS

from assets.permissions import FIELD_ENGINEER, MANAGER, WAREHOUSE, grant_role_permissions

VIEWED_MODELS = (
    "supplier",
    "purchaseorder",
    "purchaseorderline",
    "receipt",
    "receiptitem",
    "stocklocation",
    "sparelevel",
    "lowstockalert",
    "repair",
    "reservation",
    "componentimport",
)
ROLE_PERMISSIONS = {
    WAREHOUSE: [
        "add_supplier",
        "change_supplier",
        "add_purchaseorder",
        "change_purchaseorder",
        "receive_purchaseorder",
        "add_stocklocation",
        "change_stocklocation",
        "move_component",
        "add_sparelevel",
        "change_sparelevel",
        "add_repair",
        "change_repair",
        "add_reservation",
        "change_reservation",
    ],
    FIELD_ENGINEER: ["move_component"],
    MANAGER: [],
}

EDIT_SUPPLIERS = "stock.change_supplier"
EDIT_ORDERS = "stock.change_purchaseorder"
RECEIVE = "stock.receive_purchaseorder"
EDIT_LOCATIONS = "stock.change_stocklocation"
MOVE = "stock.move_component"
VIEW_LOW_STOCK = "stock.view_lowstockalert"
SEND_FOR_REPAIR = "stock.add_repair"
RECORD_RETURN = "stock.change_repair"
RESERVE = "stock.add_reservation"
RELEASE = "stock.change_reservation"


def grant_roles(apps=global_apps, using=DEFAULT_DB_ALIAS):
    """Migration 0002_roles calls it, and so does every post_migrate (stock.apps). The permissions of models
    a migration's state lacks yet (reservations, at 0002) are left to the post_migrate."""

    def model_name(codename):
        return codename.split("_", 1)[1]

    in_state = {model._meta.model_name for model in apps.get_app_config("stock").get_models()}
    later = {model._meta.model_name for model in global_apps.get_app_config("stock").get_models()} - in_state
    viewing = [f"view_{model}" for model in VIEWED_MODELS]
    roles = {
        name: [codename for codename in viewing + codenames if model_name(codename) not in later]
        for name, codenames in ROLE_PERMISSIONS.items()
    }
    grant_role_permissions(app_label="stock", roles=roles, apps=apps, using=using)


def grant_roles_after_migrate(sender, using=DEFAULT_DB_ALIAS, apps=global_apps, **kwargs):
    grant_roles(apps=apps, using=using)

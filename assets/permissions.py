"""Who may do what with the assets.

The roles are groups (see sync_roles); what a role may do is exactly its permissions. The admin, the API
and the pages check ``user.has_perm`` with the permission names below, never a group name.
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import DEFAULT_DB_ALIAS
from rest_framework.permissions import BasePermission, DjangoModelPermissions

WAREHOUSE, FIELD_ENGINEER, MANAGER = "Warehouse", "Field engineer", "Manager"
# Every role views every asset model; beyond that, each role holds these asset permissions.
VIEWED_MODELS = ("site", "component", "case", "position", "installation", "componentevent")
ROLE_PERMISSIONS = {
    WAREHOUSE: [
        "add_component",
        "change_component",
        "add_case",
        "change_case",
        "add_site",
        "change_site",
        "set_component_status",
    ],
    FIELD_ENGINEER: ["add_installation", "change_installation", "set_component_status"],
    MANAGER: [],
}

RECEIVE_COMPONENTS = "assets.add_component"
SET_COMPONENT_STATUS = "assets.set_component_status"
ASSEMBLE_CASES = "assets.change_case"
INSTALL = "assets.add_installation"
REMOVE = "assets.change_installation"
SWAP = (INSTALL, REMOVE)


class ModelPermissionsWithView(DjangoModelPermissions):
    """DjangoModelPermissions, with reads needing the model's view permission too."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }


def requires(*perms):
    """A DRF permission class for one action: the user is signed in and holds every one of ``perms``."""

    class HasPermissions(BasePermission):
        message = f"You need the permission{'s' if len(perms) > 1 else ''} {', '.join(perms)}."

        def has_permission(self, request, view):
            return bool(request.user and request.user.is_authenticated and request.user.has_perms(perms))

    return HasPermissions


def sync_roles(apps=global_apps, using=DEFAULT_DB_ALIAS):
    """Create the role groups and grant them their asset permissions; other grants are left alone.

    Migration 0003_roles calls it, and so does every post_migrate (assets.apps), which also follows a
    database flush: the roles survive a test run's transactional tests.
    """
    viewing = [f"view_{model}" for model in VIEWED_MODELS]
    roles = {name: viewing + codenames for name, codenames in ROLE_PERMISSIONS.items()}
    grant_role_permissions(app_label="assets", roles=roles, apps=apps, using=using)


def grant_role_permissions(*, app_label, roles, apps=global_apps, using=DEFAULT_DB_ALIAS):
    """Grant each role group of ``roles`` ({group name: codenames of ``app_label``}), creating the groups."""
    # Permissions are normally created after migrate; the groups need them now.
    create_permissions(global_apps.get_app_config(app_label), apps=apps, verbosity=0, using=using)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in roles.items():
        permissions = Permission.objects.using(using).filter(
            content_type__app_label=app_label, codename__in=codenames
        )
        missing = set(codenames) - set(permissions.values_list("codename", flat=True))
        if missing:
            raise RuntimeError(f"Permissions missing for the role {name}: {sorted(missing)}")
        group, _ = Group.objects.using(using).get_or_create(name=name)
        group.permissions.add(*permissions)


def sync_roles_after_migrate(sender, using=DEFAULT_DB_ALIAS, apps=global_apps, **kwargs):
    sync_roles(apps=apps, using=using)

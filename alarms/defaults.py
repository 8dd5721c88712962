"""The Li-ion default thresholds and the roles' alarm permissions.

Migration 0002 writes them, and so does every post_migrate (alarms.apps), which also follows a database
flush, so they survive a test run's transactional tests. Existing rows are left as edited in admin.
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import DEFAULT_DB_ALIAS

# kind: (severity, raise value, clear value, raise after s, clear after s)
LI_ION_DEFAULTS = {
    "cell_over_voltage": ("alarm", "4.200", "4.150", 30, 30),
    "cell_under_voltage": ("alarm", "3.000", "3.100", 30, 30),
    "cell_delta": ("warning", "0.100", "0.070", 60, 60),
    "pack_temperature": ("alarm", "55.000", "50.000", 30, 60),
    "fet_temperature": ("alarm", "80.000", "75.000", 30, 60),
    "fet_open": ("alarm", "1.000", "0.000", 30, 30),
    # Minutes of silence; checked by the beat task, so no extra minimum duration.
    "pack_stale": ("warning", "5.000", "1.000", 0, 0),
    "site_stale": ("alarm", "10.000", "1.000", 0, 0),
}
ROLES = {
    "Warehouse": ["view_alarm", "view_alarmthreshold"],
    "Field engineer": ["view_alarm", "view_alarmthreshold", "acknowledge_alarm"],
    "Manager": ["view_alarm", "view_alarmthreshold", "acknowledge_alarm"],
}


def create_defaults(apps=global_apps, using=DEFAULT_DB_ALIAS):
    AlarmThreshold = apps.get_model("alarms", "AlarmThreshold")
    for kind, (severity, raise_value, clear_value, raise_after, clear_after) in LI_ION_DEFAULTS.items():
        AlarmThreshold.objects.using(using).get_or_create(
            kind=kind,
            site=None,
            defaults={
                "severity": severity,
                "raise_value": raise_value,
                "clear_value": clear_value,
                "raise_after_seconds": raise_after,
                "clear_after_seconds": clear_after,
            },
        )


def grant_roles(apps=global_apps, using=DEFAULT_DB_ALIAS):
    create_permissions(global_apps.get_app_config("alarms"), apps=apps, verbosity=0, using=using)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ROLES.items():
        group, _ = Group.objects.using(using).get_or_create(name=name)
        permissions = Permission.objects.using(using).filter(
            content_type__app_label="alarms", codename__in=codenames
        )
        missing = set(codenames) - set(permissions.values_list("codename", flat=True))
        if missing:
            raise RuntimeError(f"Permissions missing for role {name}: {sorted(missing)}")
        group.permissions.add(*permissions)


def ensure_defaults(apps=global_apps, using=DEFAULT_DB_ALIAS):
    create_defaults(apps=apps, using=using)
    grant_roles(apps=apps, using=using)


def ensure_defaults_after_migrate(sender, using=DEFAULT_DB_ALIAS, apps=global_apps, **kwargs):
    ensure_defaults(apps=apps, using=using)

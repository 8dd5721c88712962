"""Which pages each role reaches from the navigation, and who may open them."""

from dataclasses import dataclass

from django.urls import reverse

MANAGER, FIELD_ENGINEER, WAREHOUSE = "Manager", "Field engineer", "Warehouse"

# Permissions the pages check (roles are groups holding them; see assets migration 0003).
MONITOR_PERMS = ("assets.view_site", "assets.view_component")
FIELD_PERMS = ("assets.add_installation", "assets.change_installation")


@dataclass(frozen=True)
class NavEntry:
    label: str
    url_name: str
    roles: frozenset

    @property
    def url(self):
        return reverse(self.url_name)


NAVIGATION = [
    NavEntry("Fleet", "web:fleet", frozenset({MANAGER})),
    NavEntry("Field work", "web:field-home", frozenset({FIELD_ENGINEER})),
    NavEntry("Alarms", "alarms:list", frozenset({MANAGER, FIELD_ENGINEER})),
    NavEntry("Discrepancies", "web:discrepancies", frozenset({FIELD_ENGINEER, MANAGER})),
    NavEntry("Admin", "admin:index", frozenset({WAREHOUSE})),
    # Every role reads the API (each holds the view permissions); the docs are its entry point.
    NavEntry("API docs", "api-docs", frozenset({MANAGER, FIELD_ENGINEER, WAREHOUSE})),
    # The same schema as one readable reference (ReDoc), beside the docs' try-it-out page.
    NavEntry("API reference", "api-redoc", frozenset({MANAGER, FIELD_ENGINEER, WAREHOUSE})),
]


def navigation_for(user):
    if not user.is_authenticated:
        return []
    if user.is_superuser:
        return NAVIGATION
    roles = {group.name for group in user.groups.all()}
    return [entry for entry in NAVIGATION if entry.roles & roles]

"""Reads of telemetry for the ingest path. The pages' reads are in web/selectors.py."""

from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from assets.models import Installation, Kind
from telemetry.models import GatewayToken


@dataclass(frozen=True)
class GatewayAccess:
    """What one gateway token may send: its site's PMS id and the ids of MPPTs and inverters ever on it."""

    token_id: int
    site_id: int
    pms_id: str
    device_ids: frozenset  # of (kind, device id)

    def allows(self, kind, device_id):
        if kind == "pms":
            return device_id == self.pms_id
        return (kind, device_id) in self.device_ids


def gateway_access(*, token_hash):
    """The access of the live token with this hash, or None. Cached briefly per process: at 200 requests a
    second the endpoint must not query master data each time."""
    key = f"gateway-access:{token_hash}"
    access = cache.get(key)
    if access is None:
        token = (
            GatewayToken.objects.filter(key_hash=token_hash, revoked_at__isnull=True)
            .select_related("site")
            .first()
        )
        if token is None:
            return None
        devices = Installation.objects.filter(
            position__site=token.site_id, position_kind__in=[Kind.MPPT, Kind.INVERTER]
        ).values_list("component__kind", "component__configured_id")
        access = GatewayAccess(token.id, token.site_id, token.site.pms_id, frozenset(devices))
        cache.set(key, access, settings.GATEWAY_ACCESS_CACHE_SECONDS)
    return access

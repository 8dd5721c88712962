"""Gateway tokens: created, rotated with an overlap, revoked. Only a SHA-256 hash of a token is stored.

The endpoint looks a token up by its hash on every request (telemetry/selectors.py ``gateway_access``), so
a revocation or an expiry takes effect with the next request."""

import hashlib
import ipaddress
import secrets
from datetime import timedelta

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from assets.models import Site
from telemetry.models import GatewayToken


def hash_token(raw_token: str) -> str:
    return hashlib.sha256(raw_token.encode()).hexdigest()


def gateway_token_create(*, site: Site, name: str, user: User | None = None) -> tuple[GatewayToken, str]:
    """A new token for the gateway ``name`` of ``site``. Returns (token, raw token): show the raw one once."""
    if GatewayToken.objects.filter(site=site, name=name).exists():
        raise ValidationError({"name": f"{site.pms_id} already has a gateway token named {name!r}."})
    raw_token = secrets.token_urlsafe(32)
    token = GatewayToken.objects.create(
        site=site, name=name, key_hash=hash_token(raw_token), prefix=raw_token[:8], created_by=user
    )
    return token, raw_token


def gateway_token_revoke(*, token: GatewayToken) -> None:
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])


def gateway_token_rotate(
    *, token: GatewayToken, overlap: timedelta, user: User | None = None
) -> tuple[GatewayToken, str]:
    """A new token for the same gateway; the old one keeps working for ``overlap`` (until the gateway has the
    new one), then expires. Returns (new token, raw new token): show the raw one once.

    The new token is named "<name> (rotated <UTC time>)" (the name cut to fit), as a site's token names are
    unique."""
    if token.revoked_at is not None:
        raise ValidationError(f"{token} is revoked; create a new token instead of rotating it.")
    now = timezone.now()
    with transaction.atomic():
        new_token, raw_token = gateway_token_create(
            site=token.site, name=f"{token.name[:60]} (rotated {now:%Y-%m-%d %H:%M:%S} UTC)", user=user
        )
        expires_at = now + overlap
        if token.expires_at is None or expires_at < token.expires_at:
            token.expires_at = expires_at
            token.save(update_fields=["expires_at"])
    return new_token, raw_token


NOTE_USE_SQL = f"""
UPDATE {GatewayToken._meta.db_table} SET last_used_at = %(now)s, last_used_from = %(address)s
WHERE id = %(id)s AND (last_used_at IS NULL OR last_used_at < %(stale_before)s)
"""
LAST_USED_PRECISION = timedelta(minutes=1)


def gateway_token_note_use(*, token_id, last_used_at, address, now):
    """Record when and from where a token was last used, at most once a minute per token: the endpoint calls
    this on every request, and only when ``last_used_at`` (as it read it) is a minute old is there a write,
    a conditional UPDATE that concurrent requests cannot repeat."""
    stale_before = now - LAST_USED_PRECISION
    if last_used_at is not None and last_used_at >= stale_before:
        return
    params = {"now": now, "address": _ip_address(address), "id": token_id, "stale_before": stale_before}
    with connection.cursor() as cursor:
        cursor.execute(NOTE_USE_SQL, params)


def _ip_address(text):
    """``text`` if it is an IP address (a proxy's X-Forwarded-For can hold anything), else None."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None

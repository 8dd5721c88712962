"""Gateway tokens for the ingest endpoint: ``Authorization: Bearer <token>`` (or ``Token <token>``)."""

from django.utils import timezone
from rest_framework.throttling import BaseThrottle

from telemetry.selectors import GatewayAccess, gateway_token_state
from telemetry.tokens import gateway_token_note_use, hash_token

KEYWORDS = ("bearer", "token")
WWW_AUTHENTICATE = 'Bearer realm="ingest"'


class GatewayRefused(Exception):
    """No gateway token, or one that is malformed, unknown, revoked or expired: a 401 with this message."""


def gateway_authenticate(request) -> GatewayAccess:
    """The site and token a request's gateway token gives access to; raises GatewayRefused.

    The token is looked up on every request (one indexed query), so a revocation or an expiry takes effect
    with the next one."""
    words = request.META.get("HTTP_AUTHORIZATION", "").split()
    if not words or words[0].lower() not in KEYWORDS:
        raise GatewayRefused("Authentication credentials were not provided.")
    if len(words) != 2:
        raise GatewayRefused("Authorization header: expected '<keyword> <token>'.")
    # Tokens are URL-safe ASCII (secrets.token_urlsafe); anything else cannot be one.
    token = gateway_token_state(token_hash=hash_token(words[1])) if words[1].isascii() else None
    now = timezone.now()
    if token is None:
        raise GatewayRefused("Unknown gateway token.")
    if token.revoked_at is not None:
        raise GatewayRefused(
            f"This gateway token was revoked at {token.revoked_at:%Y-%m-%d %H:%M:%S} UTC; "
            "ask an administrator for a new one."
        )
    if token.expires_at is not None and token.expires_at <= now:
        raise GatewayRefused(
            f"This gateway token expired at {token.expires_at:%Y-%m-%d %H:%M:%S} UTC when it was "
            "rotated; use its successor."
        )
    gateway_token_note_use(
        token_id=token.id,
        last_used_at=token.last_used_at,
        # The client's address as DRF's throttles see it: REMOTE_ADDR, or with REST_FRAMEWORK's NUM_PROXIES
        # (DJANGO_NUM_PROXIES) trusted proxies in front, the X-Forwarded-For entry they added.
        address=BaseThrottle().get_ident(request),
        now=now,
    )
    return GatewayAccess(token_id=token.id, site_id=token.site_id, pms_id=token.pms_id)

"""Gateway tokens for the ingest endpoint: ``Authorization: Bearer <token>`` (or ``Token <token>``)."""

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions, throttling

from telemetry.selectors import GatewayAccess, gateway_token_state
from telemetry.tokens import gateway_token_note_use, hash_token


class Gateway:
    """The authenticated party of an ingest request; ``request.auth`` is its GatewayAccess."""

    is_authenticated = True
    is_anonymous = False

    def __str__(self):
        return "gateway"


class GatewayTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request):
        words = request.META.get("HTTP_AUTHORIZATION", "").split()
        if not words or words[0].lower() not in self.keywords:
            return None
        if len(words) != 2:
            raise exceptions.AuthenticationFailed("Authorization header: expected '<keyword> <token>'.")
        # Tokens are URL-safe ASCII (secrets.token_urlsafe); anything else cannot be one.
        token = gateway_token_state(token_hash=hash_token(words[1])) if words[1].isascii() else None
        now = timezone.now()
        if token is None:
            raise exceptions.AuthenticationFailed("Unknown gateway token.")
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed(
                f"This gateway token was revoked at {token.revoked_at:%Y-%m-%d %H:%M:%S} UTC; "
                "ask an administrator for a new one."
            )
        if token.expires_at is not None and token.expires_at <= now:
            raise exceptions.AuthenticationFailed(
                f"This gateway token expired at {token.expires_at:%Y-%m-%d %H:%M:%S} UTC when it was "
                "rotated; use its successor."
            )
        gateway_token_note_use(
            token_id=token.id,
            last_used_at=token.last_used_at,
            # The client's address as DRF's throttles see it: REMOTE_ADDR, or with REST_FRAMEWORK's
            # NUM_PROXIES (DJANGO_NUM_PROXIES) trusted proxies in front, the X-Forwarded-For entry they added.
            address=throttling.BaseThrottle().get_ident(request),
            now=now,
        )
        return Gateway(), GatewayAccess(token_id=token.id, site_id=token.site_id)

    def authenticate_header(self, request):
        return 'Bearer realm="ingest"'


class IsGateway(permissions.BasePermission):
    message = "This endpoint takes a gateway token."

    def has_permission(self, request, view):
        return isinstance(request.auth, GatewayAccess)


class GatewayTokenScheme(OpenApiAuthenticationExtension):
    """Documents the gateway token in the OpenAPI schema."""

    target_class = GatewayTokenAuthentication
    name = "gatewayToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A gateway token bound to one site."}

"""Gateway tokens for the ingest endpoint: ``Authorization: Bearer <token>`` (or ``Token <token>``)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from telemetry.selectors import GatewayAccess, gateway_access
from telemetry.services import hash_token


class Gateway:
    """The authenticated party of an ingest request; ``request.auth`` is its GatewayAccess."""

    is_authenticated = True
    is_anonymous = False

    def __str__(self):
        return "gateway"


class GatewayTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request):
        words = authentication.get_authorization_header(request).split()
        if not words or words[0].decode(errors="replace").lower() not in self.keywords:
            return None
        if len(words) != 2:
            raise exceptions.AuthenticationFailed("Authorization header: expected '<keyword> <token>'.")
        access = gateway_access(token_hash=hash_token(words[1].decode(errors="replace")))
        if access is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked gateway token.")
        return Gateway(), access

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

"""Reads of telemetry for the ingest path. The pages' reads are in web/selectors.py."""

from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from telemetry.models import GatewayToken


@dataclass(frozen=True)
class GatewayAccess:
    """What one gateway token may send: payloads for its site. The worker checks each reading's device
    against the site at the reading's time, and quarantines the others."""

    token_id: int
    site_id: int


@dataclass(frozen=True)
class TokenState:
    """A gateway token as the endpoint sees it on each request."""

    id: int
    site_id: int
    revoked_at: datetime | None
    expires_at: datetime | None
    last_used_at: datetime | None


TOKEN_SQL = (
    "SELECT id, site_id, revoked_at, expires_at, last_used_at "
    f"FROM {GatewayToken._meta.db_table} WHERE key_hash = %s"
)


def gateway_token_state(*, token_hash):
    """The token with this hash, or None. Read on every request (one indexed lookup, ~0.1 ms), so that a
    revocation or an expiry takes effect at once; raw SQL, as the ORM's query building costs more than the
    query."""
    with connection.cursor() as cursor:
        cursor.execute(TOKEN_SQL, [token_hash])
        row = cursor.fetchone()
    return TokenState(*row) if row else None

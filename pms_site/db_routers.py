"""The pages read from a streaming replica when DATABASE_REPLICA_URL is set; everything else uses the primary.

``ReplicaReadsMiddleware`` lets a request read from the replica when it is a GET or HEAD and its user has
not written in the last DATABASE_REPLICA_PIN_S seconds: any other request of a browser session (a form's
POST, the login) sets a cookie that sends that browser's reads to the primary for that long, so nobody
misses their own change, nor their new session, while the replica catches up. ``PrimaryReplicaRouter``
then sends a read to the replica only inside such a request and outside a transaction; writes,
transactions, Celery tasks and management commands always use the primary. Raw SQL reads for pages take
their connection from the router too (``connections[router.db_for_read(Model)]``).
"""

from contextvars import ContextVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

REPLICA = "replica"
PIN_COOKIE = "pms_read_primary"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_replica_allowed = ContextVar("replica_allowed", default=False)


class PrimaryReplicaRouter:
    def db_for_read(self, model, **hints):
        if _replica_allowed.get() and not connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return REPLICA
        return DEFAULT_DB_ALIAS

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the replica holds the primary's rows

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS


class ReplicaReadsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        reads_replica = request.method in SAFE_METHODS and PIN_COOKIE not in request.COOKIES
        token = _replica_allowed.set(reads_replica)
        try:
            response = self.get_response(request)
        finally:
            _replica_allowed.reset(token)
        session = settings.SESSION_COOKIE_NAME
        if request.method not in SAFE_METHODS and (session in request.COOKIES or session in response.cookies):
            response.set_cookie(
                PIN_COOKIE,
                "1",
                max_age=settings.DATABASE_REPLICA_PIN_S,
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
        return response

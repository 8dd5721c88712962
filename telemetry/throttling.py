"""The per-token ingest rate limit: beyond INGEST_RATE_PER_TOKEN a gateway gets 429 with Retry-After.

DRF's SimpleRateThrottle, keyed by the token, on the "shared" cache: Django's Redis cache on the broker's
Redis (its own database), so the limit holds across every gunicorn process and thread. A per-process cache
would multiply the limit by the number of processes. The history is read and written without a lock, so two
requests racing in different processes may both pass: a limit within a request or two, which is all a
gateway's rate limit needs. If that Redis is unreachable the limit fails open: ingest goes on, unlimited,
and the outage is logged once (and its end once).
"""

import logging

from django.conf import settings
from django.core.cache import caches
from redis.exceptions import RedisError
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)


class IngestRateThrottle(SimpleRateThrottle):
    scope = "ingest"
    cache_unreachable = False  # shared by the process's threads: log an outage once

    def __init__(self):
        self.cache = caches["shared"]
        super().__init__()

    def get_rate(self):
        return settings.INGEST_RATE_PER_TOKEN

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": request.auth.token_id}

    def allow_request(self, request, view):
        try:
            allowed = super().allow_request(request, view)
        except RedisError as error:
            if not IngestRateThrottle.cache_unreachable:
                IngestRateThrottle.cache_unreachable = True
                logger.error("Ingest rate limit off: its cache is unreachable (%s)", error)
            return True
        if IngestRateThrottle.cache_unreachable:
            IngestRateThrottle.cache_unreachable = False
            logger.warning("Ingest rate limit on again: its cache is reachable")
        return allowed

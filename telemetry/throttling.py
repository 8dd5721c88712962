"""The per-token ingest rate limit: beyond INGEST_RATE_PER_TOKEN a gateway gets 429 with Retry-After.

A sliding-window counter in the "shared" cache's Redis (a database beside the broker's), so the limit holds
across every web process and thread; a per-process count would multiply the limit by the processes. Each
token has a counter per fixed window of the rate's period; a request is allowed while the current window's
count plus the previous window's, weighted by the share of it still inside the sliding window and rounded
up, is below the limit. Unlike a bare fixed window it does not reset at a window's edge (no burst of twice
the limit there; rounding up, not even of one request), and only allowed requests are counted, so a gateway
that keeps retrying while refused is let in again on time. One Lua script reads, decides and counts: one
round trip per request, and atomic, so racing requests in different processes cannot both take the last
place.

If that Redis is unreachable the limit fails open: ingest goes on, unlimited, and the outage is logged once
(and its end once).
"""

import logging
import math
import time

from django.conf import settings
from django.core.cache import caches
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# KEYS: the current and the previous window's counters; ARGV: the limit, the previous window's weight, the
# counters' lifetime. Returns {allowed (0/1), current count, previous count}. (The 1e-9: 3 x 2/3 is not quite
# 2 in floating point.)
SLIDING_WINDOW_LUA = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
if current + math.ceil(previous * tonumber(ARGV[2]) - 1e-9) >= tonumber(ARGV[1]) then
    return {0, current, previous}
end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {1, current + 1, previous}
"""


def parse_rate(rate: str) -> tuple[int, int]:
    """The count and the period in seconds of a rate like "120/min" (s, min, hour, day, as in DRF)."""
    count, period = rate.split("/")
    return int(count), PERIODS[period[0]]


class IngestRateLimit:
    """Shared by the process's threads (redis-py's client and its registered script are thread-safe)."""

    clock = staticmethod(time.time)

    def __init__(self):
        self.cache_unreachable = False  # log an outage once
        self._scripts = {}

    def retry_after(self, token_id: int) -> int | None:
        """None if the token may post now (and the post is counted), else the seconds to wait."""
        limit, period = parse_rate(settings.INGEST_RATE_PER_TOKEN)
        window, elapsed = divmod(self.clock(), period)
        weight = 1 - elapsed / period
        cache = caches["shared"]
        keys = [cache.make_key(f"ingest-rate:{token_id}:{int(window) - back}") for back in (0, 1)]
        try:
            allowed, current, previous = self._script(cache)(keys=keys, args=[limit, weight, 2 * period])
        except RedisError as error:
            if not self.cache_unreachable:
                self.cache_unreachable = True
                logger.error("Ingest rate limit off: its cache is unreachable (%s)", error)
            return None
        if self.cache_unreachable:
            self.cache_unreachable = False
            logger.warning("Ingest rate limit on again: its cache is reachable")
        if allowed:
            return None
        return max(1, math.ceil(_seconds_until_below(limit, current, previous, elapsed, period) - 1e-9))

    def _script(self, cache):
        client = cache._cache.get_client(write=True)
        script = self._scripts.get(id(client))
        if script is None:
            script = self._scripts[id(client)] = client.register_script(SLIDING_WINDOW_LUA)
        return script


def _seconds_until_below(limit, current, previous, elapsed, period):
    """When the sliding count falls below ``limit``: within this window as the previous one's weight
    decays, or in the next, where this window's count is the one decaying."""
    if current < limit:
        return period * (1 - (limit - current - 1) / previous) - elapsed
    return period - elapsed + period * (1 - (limit - 1) / max(current, 1))


ingest_rate_limit = IngestRateLimit()

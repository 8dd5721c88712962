"""Django's Redis cache backend, keeping its redis.Redis client.

Django's client builds a new redis.Redis for every operation; with redis-py 8 that construction costs more CPU
than the command itself, and the ingest rate limit makes two operations on every POST. A redis.Redis over a
connection pool is safe to share between threads (each command takes a connection from the pool), so one per
pool is kept.
"""

from django.core.cache.backends import redis


class ReusingClient(redis.RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(redis.RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusingClient

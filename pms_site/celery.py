import os

from celery import Celery
from kombu.transport import redis as kombu_redis
from kombu.transport.virtual import Empty

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pms_site.settings")

app = Celery("pms_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


_close_redis_channel = kombu_redis.Channel.close


def close_redis_channel_after_lost_brpop(channel):
    """kombu's redis Channel.close, made to finish when the connection is gone (kombu 5.7.0, redis-py 8.1).

    Without it the worker dies when Redis goes away while an acks-late task runs and a BRPOP is waiting
    (one pool process busy, one free): tests/reliability/test_broker_outage.py. Celery's reconnect path
    (Consumer.on_connection_error_after_connected) first calls ``connection.collect()``, which closes the
    default channel; Channel.close starts by reading the pending BRPOP reply, which raises ConnectionError,
    so the close stops half way: the running task's message stays in the channel's unacked state, and
    ``collect()`` swallows the error and sets the transport's ``client`` to None. Celery then calls
    ``connection.close()``, which closes the same channel again; now it gets as far as restoring the unacked
    message, opens a new Redis pool from ``transport.client.hostname`` and raises
    ``AttributeError: 'NoneType' object has no attribute 'hostname'``, which Celery does not count as a
    connection error: "Unrecoverable error", and the worker exits.

    Here a BRPOP reply lost with its connection is given up, so the first close completes while the
    transport is still whole; the unacked message is then restored (or, with Redis down, left to the
    visibility timeout and the ingest sweep), and the second close is a no-op.
    """
    if channel._in_poll:
        try:
            channel._brpop_read()
        except (Empty, *channel.connection_errors):
            pass  # _brpop_read has cleared _in_poll and dropped the broken connection
    _close_redis_channel(channel)


kombu_redis.Channel.close = close_redis_channel_after_lost_brpop

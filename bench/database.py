"""The benchmark database: created from template1 and migrated before the benchmarks, dropped after."""

import contextlib

import psycopg
from django.conf import settings
from django.core.management import call_command
from django.db import connections


def _maintenance_connection():
    db = settings.DATABASES["default"]
    return psycopg.connect(
        dbname=settings.MAINTENANCE_DATABASE_NAME,
        user=db["USER"],
        password=db["PASSWORD"],
        host=db["HOST"],
        port=db["PORT"],
        autocommit=True,
    )


def _drop(cursor, name):
    cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def benchmark_database(*, keep=False):
    name = settings.DATABASES["default"]["NAME"]
    if settings.BENCH_CREATES_DATABASE:
        with _maintenance_connection() as maintenance, maintenance.cursor() as cursor:
            _drop(cursor, name)
            cursor.execute(f'CREATE DATABASE "{name}" TEMPLATE template1')
    call_command("migrate", verbosity=0)
    try:
        yield name
    finally:
        connections.close_all()
        if settings.BENCH_CREATES_DATABASE and not keep:
            with _maintenance_connection() as maintenance, maintenance.cursor() as cursor:
                _drop(cursor, name)

"""`python -m bench [NAME ...]`: run the benchmarks (all by default) on a database of their own and print
the figures. See docs/benchmarks.md.

To add a benchmark: a module in bench/ with ``run(options) -> list[bench.Figure]``, and a line in BENCHMARKS.
"""

import argparse
import importlib
import os
import platform
import time

BENCHMARKS = {
    "pipeline": "bench.pipeline",
    "http": "bench.http_ingest",
    "web": "bench.web_pages",
    "fleet": "bench.fleet",
    "worker": "bench.worker_memory",
    "scale": "bench.scale",
    "reattribution": "bench.reattribution",
    "analytics": "bench.analytics",
}
# `make bench` runs these; `scale` (haproxy, a replica, processes killed on purpose) only when named.
DEFAULT_BENCHMARKS = [name for name in BENCHMARKS if name != "scale"]


def machine():
    with open("/proc/cpuinfo") as cpuinfo:
        model = next(
            (line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "?"
        )
    with open("/proc/meminfo") as meminfo:
        memory_gb = int(meminfo.readline().split()[1]) / 1024**2
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('server_version'), extversion FROM pg_extension "
            "WHERE extname = 'timescaledb'"
        )
        postgres, timescale = cursor.fetchone()
    return (
        f"{os.cpu_count()} CPUs ({model}), {memory_gb:.0f} GB RAM, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, PostgreSQL {postgres}, TimescaleDB {timescale}"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "names", nargs="*", choices=[[], *BENCHMARKS], metavar="NAME", help=", ".join(BENCHMARKS)
    )
    parser.add_argument("--rows", type=int, default=200_000, help="pipeline: pack rows to ingest")
    parser.add_argument("--seconds", type=float, default=20.0, help="http: how long to post")
    parser.add_argument("--clients", type=int, default=8, help="http: concurrent connections")
    parser.add_argument("--tail-seconds", type=float, default=60.0, help="http: open-loop seconds (0: none)")
    parser.add_argument("--web-days", type=int, default=30, help="web: days of 5-second data for 48 packs")
    parser.add_argument("--fleet-sites", type=int, default=1000, help="fleet: sites on the fleet page")
    parser.add_argument(
        "--worker-rows", type=int, default=1_000_000, help="worker: pack rows through one Celery worker"
    )
    parser.add_argument("--keep-database", action="store_true", help="leave the benchmark database behind")
    options = parser.parse_args(argv)
    unknown = set(options.names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark {', '.join(sorted(unknown))}; choose from {', '.join(BENCHMARKS)}")

    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    import django

    django.setup()
    from bench.database import benchmark_database

    with benchmark_database(keep=options.keep_database) as database:
        print(f"Machine: {machine()}")
        print(f"Database: {database}\n")
        for name in options.names or DEFAULT_BENCHMARKS:
            print(f"== {name}")
            began = time.monotonic()
            for figure in importlib.import_module(BENCHMARKS[name]).run(options):
                print(f"  {figure}")
            print(f"  ({time.monotonic() - began:.0f} s)\n")


if __name__ == "__main__":
    main()

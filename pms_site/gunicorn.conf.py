"""gunicorn settings, shared by `make run` and the HTTP benchmark (`bench http`), so the benchmark measures
what is served. Each can be overridden with the usual GUNICORN_CMD_ARGS or the variables below.

Threads (gthread) let a process serve other requests while one waits on PostgreSQL or Redis; on the 2-core
reference machine 4 processes x 4 threads, 2 x 8, 3 x 3 and 3 x 4 all served about the same rate
(docs/benchmarks.md), so the count follows the cores.
"""

import os

workers = int(os.environ.get("WEB_WORKERS", 2 * (os.cpu_count() or 1)))
threads = int(os.environ.get("WEB_THREADS", "4"))
worker_class = "gthread"

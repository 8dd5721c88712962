"""Settings for the test suite: the real services, kept apart from what `make run` uses.

The Celery broker is a separate Redis database, so a running `make run` worker never takes test tasks.
A worker started by the tests points at the test database through PMS_WORKER_DATABASE_NAME.
"""

import os

from pms_site.settings import *  # noqa: F403
from pms_site.settings import CACHES, CELERY_BROKER_URL, DATABASES, STATIC_ROOT

CELERY_BROKER_URL = os.environ.get("TEST_CELERY_BROKER_URL", CELERY_BROKER_URL.rsplit("/", 1)[0] + "/15")
# The shared cache (rate-limit counters) in the test broker's Redis database, under a prefix of this test
# session: token ids start again at 1 in each run's fresh test database.
CACHES["shared"] = {**CACHES["shared"], "LOCATION": CELERY_BROKER_URL, "KEY_PREFIX": f"test-{os.getpid()}"}
if os.environ.get("PMS_WORKER_DATABASE_NAME"):
    DATABASES["default"]["NAME"] = os.environ["PMS_WORKER_DATABASE_NAME"]
DATABASES["default"]["CONN_MAX_AGE"] = 0
# Several checkouts (or engineers) may test against one cluster at once: PMS_TEST_DB_SUFFIX keeps them apart.
DATABASES["default"]["TEST"] = {
    "NAME": f"test_{DATABASES['default']['NAME']}{os.environ.get('PMS_TEST_DB_SUFFIX', '')}"
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

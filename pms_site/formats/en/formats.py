"""Django's own date and time output (the admin, ``{{ value }}``, ``|date``) in the one format of
pms_site.timefmt: "2026-11-25 14:05"."""

DATETIME_FORMAT = SHORT_DATETIME_FORMAT = "Y-m-d H:i"
DATE_FORMAT = SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i"

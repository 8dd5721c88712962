from django.urls import path

from telemetry.api import ingest

urlpatterns = [path("ingest/", ingest, name="telemetry-ingest")]

"""What telemetry announces to the apps above it. They subscribe in their AppConfig.ready, so telemetry never
imports them."""

from django.dispatch import Signal

# Sent by the ingest task once its batches are committed, with ``site_ids``: the set of sites whose readings
# it stored (never empty). The sender is IngestBatch.
batches_stored = Signal()

# Sent once a refresh of rollups has committed, with ``width`` (1 minute or 1 hour) and the [start, end) it
# covered (whole buckets). The sender is None.
rollups_refreshed = Signal()

"""Every write of telemetry goes through these services: the endpoint, the Celery tasks, the management
commands, the admin and the benchmark call them. They live in the modules named below, in the order data
flows: telemetry/ingest/ (landing, batches, core and the steps of the core), then quarantine replay,
discrepancies and re-attribution after a late change (telemetry/reattribution.py); gateway tokens in
telemetry/tokens.py.
"""

from telemetry.discrepancies import (
    discrepancies_reevaluate,
    discrepancies_resolve,
    discrepancy_check_record,
    discrepancy_resolve_by_install,
    discrepancy_resolve_by_swap,
    discrepancy_resolve_with,
)
from telemetry.ingest.batches import OPERATIONAL_ERRORS, ProcessedBatch, batch_process
from telemetry.ingest.core import ingest_payload
from telemetry.ingest.landing import batch_receive, batch_retry, batches_requeue_stale
from telemetry.ingest.results import IngestResult, Rejection
from telemetry.quarantine import ReplayResult, quarantine_replay
from telemetry.reattribution import reattribution_queue, reattribution_step, reattributions_requeue_stale
from telemetry.tokens import gateway_token_create, gateway_token_revoke, gateway_token_rotate, hash_token

__all__ = [
    "OPERATIONAL_ERRORS",
    "IngestResult",
    "ProcessedBatch",
    "Rejection",
    "ReplayResult",
    "batch_process",
    "batch_receive",
    "batch_retry",
    "batches_requeue_stale",
    "discrepancies_reevaluate",
    "discrepancies_resolve",
    "discrepancy_check_record",
    "discrepancy_resolve_by_install",
    "discrepancy_resolve_by_swap",
    "discrepancy_resolve_with",
    "gateway_token_create",
    "gateway_token_revoke",
    "gateway_token_rotate",
    "hash_token",
    "ingest_payload",
    "quarantine_replay",
    "reattribution_queue",
    "reattribution_step",
    "reattributions_requeue_stale",
]

"""The ingest chain, one module per step, in the order data flows:

landing.py   a payload lands as a pending IngestBatch and is queued; the sweep; retry
batches.py   a worker processes a batch with those waiting behind it; one bad batch is isolated
core.py      the records of the payloads are stored in one transaction:
  parts.py     decoded and validated record by record, grouped per dataset: the wire format and its
               decoders in decode.py (with errors.py, repeated_keys.py), reading times in times.py
  resolve.py   identities at each reading's time, from the installation records
  lines.py     COPY lines of the resolved readings; cases seen away from their recorded dock
  copy.py      COPY into the hypertables, re-sends counted apart; latest state and discrepancies upserted
results.py   what an ingest reports: counts and rejections
"""

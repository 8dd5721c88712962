"""POST /api/v1/ingest/: the gateways' endpoint, the hottest path of the site.

A plain Django view, not DRF: every gateway posts every 5 s, and DRF's request wrapping, content
negotiation and rendering cost more CPU than the view's own work. Its OpenAPI operation is written out
below and added to the schema by ``document_ingest_endpoint`` (a drf-spectacular postprocessing hook).

Per request: one indexed query for the token (a revocation counts from the next request), one Redis round
trip for the rate limit, the envelope check, and one autocommitted INSERT of the raw body, durable before
the 202. A database error reaches DatabaseUnavailableMiddleware: 503 with Retry-After.
"""

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.http import JsonResponse
from django.urls import reverse
from django.utils.http import parse_header_parameters
from django.views.decorators.csrf import csrf_exempt

from telemetry import services
from telemetry.authentication import WWW_AUTHENTICATE, GatewayRefused, gateway_authenticate
from telemetry.ingest import decode
from telemetry.throttling import ingest_rate_limit

JSON = "application/json"


@csrf_exempt
def ingest(request):
    """Land one gateway payload ({"datasets": [...]}) for processing; answers 202 with the batch id and the
    places of the PMS datasets of another PMS than the token's site's, which the worker quarantines.

    Only the envelope is checked here; the worker validates each record and checks its device against the
    token's site at the reading's time, quarantining what it cannot store without losing the neighbours. A
    payload whose every dataset is of another PMS is refused (403): nothing in it is this gateway's. MPPT and
    inverter datasets are left to the worker: whether a device was the site's depends on each reading's time.
    """
    try:
        access = _authenticate(request)
    except GatewayRefused as refused:
        response = _detail(str(refused), 401)
        response["WWW-Authenticate"] = WWW_AUTHENTICATE
        return response
    if request.method != "POST":
        response = _detail(f'Method "{request.method}" not allowed.', 405)
        response["Allow"] = "POST"
        return response
    retry_after = ingest_rate_limit.retry_after(access.token_id)
    if retry_after is not None:
        response = _detail(f"Request was throttled. Expected available in {retry_after} seconds.", 429)
        response["Retry-After"] = str(retry_after)
        return response
    content_type = request.META.get("CONTENT_TYPE", "")
    if not _is_json(content_type):
        return _detail(f"Content-Type: expected {JSON} (in UTF-8), got {content_type!r}", 415)
    limit = settings.INGEST_MAX_BODY_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > limit:
        return _too_large(limit)
    raw = _read_body(request, limit)
    if len(raw) > limit:
        return _too_large(limit)
    try:
        envelope = decode.decode_envelope(raw)
    except decode.DecodeError as error:
        return _detail(str(error), 400)
    rejected = [
        f"datasets[{index}].pms.id: {dataset.pms.id!r} is not {access.pms_id}, this gateway's PMS"
        for index, dataset in enumerate(envelope.datasets)
        if dataset.pms is not None and dataset.pms.id != access.pms_id
    ]
    if rejected and len(rejected) == len(envelope.datasets):
        return _detail(f"Nothing in this payload is of this gateway's site: {'; '.join(rejected)}", 403)
    batch_id = services.batch_receive(raw=raw, site_id=access.site_id, token_id=access.token_id)
    return JsonResponse({"batch": str(batch_id), "rejected": rejected}, status=202)


def _authenticate(request):
    """gateway_authenticate, without the extra round trip of Django's connection health check: a
    connection reused from an earlier request is trusted, and only if the token query finds it broken (the
    database restarted since) is the query tried once more on a new connection."""
    reused = connection.connection is not None
    connection.health_check_done = True
    try:
        return gateway_authenticate(request)
    except (OperationalError, InterfaceError):
        if not reused:
            raise
    connection.close()
    return gateway_authenticate(request)


def _is_json(content_type):
    try:
        media_type, params = parse_header_parameters(content_type)
    except ValueError:  # an RFC 2231 parameter in an unknown charset
        return False
    return media_type == JSON and params.get("charset", "utf-8").lower() == "utf-8"


def _read_body(request, limit):
    """At most ``limit`` + 1 bytes of the body. A chunked body comes without Content-Length, and Django then
    reads nothing; a server that sets ``wsgi.input_terminated`` (gunicorn does) ends wsgi.input where the
    body ends, so it is read from there."""
    if not request.META.get("CONTENT_LENGTH") and request.META.get("wsgi.input_terminated"):
        return request.META["wsgi.input"].read(limit + 1)
    return request.read(limit + 1)


def _detail(detail, status):
    return JsonResponse({"detail": detail}, status=status)


def _too_large(limit):
    return _detail(f"body: larger than the limit of {limit} bytes; send the data in smaller payloads", 413)


# --- The endpoint in the OpenAPI schema ---------------------------------------------------------------------


def _documented(description, schema):
    return {"description": description, "content": {JSON: {"schema": schema}}}


DETAIL_SCHEMA = {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
OPENAPI_OPERATION = {
    "operationId": "v1_ingest_create",
    "description": ingest.__doc__.strip(),
    "tags": ["v1"],
    "requestBody": {"content": {JSON: {"schema": {"type": "object"}}}},
    "security": [{"gatewayToken": []}],
    "responses": {
        "202": _documented(
            "Landed; the worker stores it, and quarantines the datasets listed in rejected.",
            {
                "type": "object",
                "properties": {
                    "batch": {"type": "string", "format": "uuid"},
                    "rejected": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "Each dataset of another PMS than the token's site's.",
                    },
                },
            },
        ),
        **{
            str(status): _documented(description, DETAIL_SCHEMA)
            for status, description in [
                (400, "Malformed JSON or envelope; the message names the place."),
                (401, "No gateway token, or an unknown, revoked or expired one."),
                (403, "Every dataset is of another PMS than the token's site's; nothing was stored."),
                (413, "Body larger than INGEST_MAX_BODY_BYTES."),
                (415, "Content-Type other than application/json."),
                (429, "More than INGEST_RATE_PER_TOKEN POSTs; the Retry-After header says when to retry."),
                (503, "The database is unavailable; nothing was stored. Retry after Retry-After seconds."),
            ]
        },
    },
}
GATEWAY_TOKEN_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "A gateway token bound to one site.",
}


def document_ingest_endpoint(result, generator, request, public):
    """drf-spectacular postprocessing hook: the ingest endpoint's operation and its security scheme."""
    result.setdefault("paths", {})[reverse("telemetry-ingest")] = {"post": OPENAPI_OPERATION}
    result.setdefault("components", {}).setdefault("securitySchemes", {})["gatewayToken"] = (
        GATEWAY_TOKEN_SCHEME
    )
    return result

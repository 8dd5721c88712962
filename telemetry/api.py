from django.conf import settings
from django.utils.http import parse_header_parameters
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from telemetry import services
from telemetry.authentication import GatewayTokenAuthentication, IsGateway
from telemetry.ingest import decode
from telemetry.throttling import IngestRateThrottle

JSON = "application/json"


def _detail(description):
    return OpenApiResponse(
        description=description,
        response={"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]},
    )


def _is_json(content_type):
    try:
        media_type, params = parse_header_parameters(content_type)
    except ValueError:  # an RFC 2231 parameter in an unknown charset
        return False
    return media_type == JSON and params.get("charset", "utf-8").lower() == "utf-8"


class IngestView(APIView):
    """Land one gateway payload ({"datasets": [...]}) for processing; answers 202 with the batch id.

    Only the envelope is checked here; the worker validates each record and checks its device against the
    token's site at the reading's time, quarantining what it cannot store without losing the neighbours.
    """

    authentication_classes = [GatewayTokenAuthentication]
    permission_classes = [IsGateway]
    throttle_classes = [IngestRateThrottle]

    @extend_schema(
        request={JSON: {"type": "object"}},
        responses={
            202: OpenApiResponse(
                description="Landed; the worker stores it.",
                response={"type": "object", "properties": {"batch": {"type": "string", "format": "uuid"}}},
            ),
            400: _detail("Malformed JSON or envelope; the message names the place."),
            401: _detail("No gateway token, or an unknown, revoked or expired one."),
            413: _detail("Body larger than INGEST_MAX_BODY_BYTES."),
            415: _detail("Content-Type other than application/json."),
            429: _detail("More than INGEST_RATE_PER_TOKEN POSTs; the Retry-After header says when to retry."),
            503: _detail("The database is unavailable; nothing was stored. Retry after Retry-After seconds."),
        },
    )
    def post(self, request):
        if not _is_json(request.content_type):
            detail = f"Content-Type: expected {JSON} (in UTF-8), got {request.content_type!r}"
            return Response({"detail": detail}, status=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE)
        limit = settings.INGEST_MAX_BODY_BYTES
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if declared.isdigit() and int(declared) > limit:
            return self._too_large(limit)
        raw = self._read_body(request, limit)
        if len(raw) > limit:
            return self._too_large(limit)
        try:
            decode.decode_envelope(raw)
        except decode.DecodeError as error:
            return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        access = request.auth
        batch_id = services.batch_receive(raw=raw, site_id=access.site_id, token_id=access.token_id)
        return Response({"batch": str(batch_id)}, status=status.HTTP_202_ACCEPTED)

    @staticmethod
    def _read_body(request, limit):
        """At most ``limit`` + 1 bytes of the body. A chunked body comes without Content-Length, and Django
        then reads nothing; a server that sets ``wsgi.input_terminated`` (gunicorn does) ends wsgi.input
        where the body ends, so it is read from there."""
        if not request.META.get("CONTENT_LENGTH") and request.META.get("wsgi.input_terminated"):
            return request.META["wsgi.input"].read(limit + 1)
        return request.read(limit + 1)

    @staticmethod
    def _too_large(limit):
        detail = f"body: larger than the limit of {limit} bytes; send the data in smaller payloads"
        return Response({"detail": detail}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from telemetry import schemas, services
from telemetry.authentication import GatewayTokenAuthentication, IsGateway


class IngestView(APIView):
    """Land one gateway payload ({"datasets": [...]}) for processing; answers 202 with the batch id.

    Only the envelope is checked here (shape, and that every device id belongs to the token's site);
    records are validated by the worker, and bad ones quarantined without losing their neighbours.
    """

    authentication_classes = [GatewayTokenAuthentication]
    permission_classes = [IsGateway]

    @extend_schema(
        request={"application/json": {"type": "object"}},
        responses={
            202: OpenApiResponse(description='{"batch": "<uuid>"}'),
            400: OpenApiResponse(description="Malformed JSON or envelope; the message names the place."),
            403: OpenApiResponse(description="A device id that does not belong to the token's site."),
            413: OpenApiResponse(description="Body larger than INGEST_MAX_BODY_BYTES."),
        },
    )
    def post(self, request):
        limit = settings.INGEST_MAX_BODY_BYTES
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if declared.isdigit() and int(declared) > limit:
            return self._too_large(limit)
        raw = request.read(limit + 1)
        if len(raw) > limit:
            return self._too_large(limit)
        try:
            envelope = schemas.decode_envelope(raw)
        except schemas.DecodeError as error:
            return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        access = request.auth
        for index, dataset in enumerate(envelope.datasets):
            if not access.allows(dataset.kind, dataset.device_id):
                detail = (
                    f"datasets[{index}].{dataset.kind}.id: {dataset.device_id!r} does not belong to the site "
                    "of this gateway token"
                )
                return Response({"detail": detail}, status=status.HTTP_403_FORBIDDEN)
        batch_id = services.batch_receive(raw=raw, site_id=access.site_id, token_id=access.token_id)
        return Response({"batch": str(batch_id)}, status=status.HTTP_202_ACCEPTED)

    @staticmethod
    def _too_large(limit):
        detail = f"body: larger than the limit of {limit} bytes; send the data in smaller payloads"
        return Response({"detail": detail}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)

"""API errors as JSON a client can act on, never a stack trace."""

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import pagination, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from pms_site.middleware import DATABASE_ERRORS, database_unavailable_response

logger = logging.getLogger(__name__)


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """``?limit=`` above this is taken as this: one page never reads the whole table."""

    max_limit = 1000


def exception_handler(exc, context):
    """The services' ValidationError -> 400 with its field messages; the database unreachable -> 503 with
    Retry-After (logged once per outage); anything unexpected -> a logged 500."""
    if isinstance(exc, DATABASE_ERRORS):
        set_rollback()
        return database_unavailable_response(context["request"], exc)
    if isinstance(exc, DjangoValidationError):
        set_rollback()
        return Response(as_serializer_error(exc), status=status.HTTP_400_BAD_REQUEST)
    response = drf_exception_handler(exc, context)
    if response is None:
        set_rollback()
        logger.error("Unhandled error in %s", type(context.get("view")).__name__, exc_info=exc)
        response = Response(
            {"detail": "The server failed to handle this request; the error has been logged."},
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    return response

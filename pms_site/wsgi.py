import os

import django
from django.core.handlers import wsgi
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.middleware.security import SecurityMiddleware
from django.urls import reverse

from pms_site.middleware import DatabaseUnavailableMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pms_site.settings")


class WSGIRequest(wsgi.WSGIRequest):
    """Django 5.2 raises ValueError while it builds the request when the Content-Type has an RFC 2231
    parameter in an unknown charset ("charset*=bogus''x"), before any middleware: every URL answered 500
    (Django ticket #36991). Such a Content-Type is read as none; the ingest endpoint answers it 415."""

    def _set_content_type_params(self, meta):
        try:
            super()._set_content_type_params(meta)
        except ValueError:
            self.content_type, self.content_params = "", {}


class IngestHandler(BaseHandler):
    """The gateways' POSTs, the bulk of the requests, through the only middleware that concerns them:
    SecurityMiddleware (the HTTPS redirect and HSTS) and the database's 503. Sessions, login lockout,
    messages, CSRF, the Content Security Policy and frame options are for pages and browsers; the ingest
    view is a plain JSON endpoint authenticated by a gateway token (telemetry/api.py), and skipping them
    saves a tenth of its CPU. What BaseHandler.load_middleware would build from that list, built by hand."""

    def __init__(self):
        database = DatabaseUnavailableMiddleware(None)
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = [database.process_exception]
        self._middleware_chain = convert_exception_to_response(
            SecurityMiddleware(convert_exception_to_response(self._get_response))
        )


class WSGIHandler(wsgi.WSGIHandler):
    request_class = WSGIRequest

    def __init__(self):
        super().__init__()
        self.ingest = IngestHandler()
        self.ingest_path = reverse("telemetry-ingest")

    def get_response(self, request):
        if request.path_info == self.ingest_path:
            return self.ingest.get_response(request)
        return super().get_response(request)


django.setup(set_prefix=False)  # as django.core.wsgi.get_wsgi_application does
application = WSGIHandler()

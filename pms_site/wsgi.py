import os

import django
from django.core.handlers import wsgi

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


class WSGIHandler(wsgi.WSGIHandler):
    request_class = WSGIRequest


django.setup(set_prefix=False)  # as django.core.wsgi.get_wsgi_application does
application = WSGIHandler()

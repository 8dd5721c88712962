"""The API reference page (ReDoc), served whole from this site under the Content Security Policy."""

from functools import cache

from django.contrib.staticfiles import finders
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView

REDOC_BUNDLE = "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"
# ReDoc's sidebar draws Redocly's logo from their CDN, with no option to turn it off. An empty data: image
# fails to load, and ReDoc then leaves the logo out: the page makes no request beyond this site.
REDOC_CDN_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@cache
def redoc_bundle() -> str:
    with open(finders.find(REDOC_BUNDLE), encoding="utf-8") as bundle:
        return bundle.read().replace(REDOC_CDN_LOGO, "data:,")


class RedocView(SpectacularRedocView):
    """drf-spectacular's ReDoc page, with the same permission as the Swagger page (SERVE_PERMISSIONS).

    ``?script=`` serves the vendored bundle without its one outside request. ReDoc starts from its <redoc>
    element (no inline script) but sets its styles inline and runs its search in a worker it builds from a
    blob: on this page only, the policy allows inline styles and blob: workers (never inline scripts)."""

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        if "script" in request.GET:
            return HttpResponse(redoc_bundle(), content_type="text/javascript; charset=utf-8")
        response = super().get(request, *args, **kwargs)
        response.data["redoc_standalone"] = f"{reverse('api-redoc')}?script="
        # What csp.decorators.csp_update sets.
        response._csp_update = {"style-src": ["'unsafe-inline'"], "worker-src": ["'self'", "blob:"]}
        return response

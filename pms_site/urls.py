from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from pms_site.api_docs import RedocView

# The split view serves the page's start-up script from its own URL, so the page needs no inline script.
api_docs = SpectacularSwaggerSplitView.as_view(url_name="api-schema")
# The same schema as one readable reference, ReDoc (pms_site/api_docs.py).
api_redoc = RedocView.as_view(url_name="api-schema")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", api_docs, name="api-docs"),
    path("api/redoc/", api_redoc, name="api-redoc"),
    # Ingest first: resolving its URL behind the asset API's router patterns took a tenth of its CPU.
    path("api/v1/", include("telemetry.api_urls")),
    path("api/v1/", include("assets.api_urls")),
    path("api/v1/", include("stock.api_urls")),
    path("alarms/", include("alarms.urls")),
    path("", include("web.urls")),
]

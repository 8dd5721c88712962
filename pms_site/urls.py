from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

# The API docs page loads Swagger UI from drf-spectacular's CDN until it is vendored: the policy lets this
# page (only) load from there. Its start-up script comes from the page's own URL (the split view), not inline.
SWAGGER_UI_SOURCES = ["https://cdn.jsdelivr.net"]
api_docs = csp_update(
    {"script-src": SWAGGER_UI_SOURCES, "style-src": SWAGGER_UI_SOURCES, "img-src": SWAGGER_UI_SOURCES}
)(SpectacularSwaggerSplitView.as_view(url_name="api-schema"))

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", api_docs, name="api-docs"),
    path("api/v1/", include("assets.api_urls")),
    path("api/v1/", include("telemetry.api_urls")),
    path("alarms/", include("alarms.urls")),
    path("", include("web.urls")),
]

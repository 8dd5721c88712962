from django.contrib.auth import views as auth_views
from django.urls import include, path, register_converter
from django.urls.converters import StringConverter

from web import analytics_views, views


class SerialConverter(StringConverter):
    """A serial in a path: anything but '/' and NUL (which PostgreSQL cannot compare, and no serial has)."""

    regex = "[^/\x00]+"


register_converter(SerialConverter, "serial")

pages = [
    path("", views.home, name="home"),
    path("fleet/", views.fleet, name="fleet"),
    path("fleet/attention/", analytics_views.attention, name="attention"),
    path("fleet/attention.csv", analytics_views.attention_csv, name="attention-export"),
    path("sites/<int:pk>/", views.site_detail, name="site"),
    path("sites/<int:pk>/live/", views.site_live, name="site-live"),
    path("sites/<int:pk>/series.json", views.site_series, name="site-series"),
    path("sites/<int:pk>/readings.csv", views.export_site, name="site-export"),
    path("cases/<serial:serial>/", views.case_detail, name="case"),
    path("cases/<serial:serial>/series.json", views.case_series, name="case-series"),
    path("cases/<serial:serial>/readings.csv", views.export_case, name="case-export"),
    path("devices/<int:pk>/readings.csv", views.export_device, name="device-export"),
    path("discrepancies/", views.discrepancies, name="discrepancies"),
    path("search/", views.search, name="search"),
    path("field/", views.field_home, name="field-home"),
    path("field/find-case/", views.field_find_case, name="field-find-case"),
    path("field/sites/<int:pk>/", views.field_site, name="field-site"),
    path("field/positions/<int:pk>/", views.field_position, name="field-position"),
    path("field/positions/<int:pk>/<str:action>/", views.field_change, name="field-change"),
    path("field/cases/<int:pk>/", views.field_component, name="field-component"),
    path("field/changes/<int:pk>/", views.field_result, name="field-result"),
]

urlpatterns = [
    path("", include((pages, "web"))),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Browsers ask for /favicon.ico on pages that name no icon, the admin's among them.
    path("favicon.ico", views.favicon, name="favicon"),
]

from rest_framework.routers import DefaultRouter

from assets import api

router = DefaultRouter()
router.register("sites", api.SiteViewSet, basename="site")
router.register("components", api.ComponentViewSet, basename="component")
router.register("cases", api.CaseViewSet, basename="case")
router.register("cabinets", api.CabinetViewSet, basename="cabinet")
router.register("positions", api.PositionViewSet, basename="position")
router.register("installations", api.InstallationViewSet, basename="installation")
router.register("events", api.ComponentEventViewSet, basename="event")
router.register("as-of", api.AsOfViewSet, basename="as-of")

urlpatterns = router.urls

from rest_framework.routers import DefaultRouter

from stock import api

# The assets router serves the API's root page; this one adds its routes (with their .json forms) only.
router = DefaultRouter()
router.include_root_view = False
router.register("stock", api.StockViewSet, basename="stock")

urlpatterns = router.urls

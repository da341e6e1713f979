from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import views

app_name = "hosting"

router = SimpleRouter()
router.register("sites", views.SiteViewSet, basename="site-api")
router.register("miners", views.MinerViewSet, basename="miner-api")

urlpatterns = [
    path("hosting/sites/", views.site_list, name="site-list"),
    path("hosting/host/devices", views.device_list, name="device-list"),
    path("hosting/api/telemetry/<int:miner_id>", views.MinerTelemetryApi.as_view(), name="telemetry-api"),
    path("api/v1/hosting/", include(router.urls)),
]

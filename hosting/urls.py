from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import views

app_name = "hosting"

router = SimpleRouter()
router.register("sites", views.SiteViewSet, basename="site-api")
router.register("miners", views.MinerViewSet, basename="miner-api")
router.register("telemetry", views.TelemetryViewSet, basename="telemetry-rows-api")

urlpatterns = [
    path("hosting/sites/", views.site_list, name="site-list"),
    path("hosting/host/devices", views.device_list, name="device-list"),
    path("hosting/host/devices/batch", views.device_batch, name="device-batch"),
    path("hosting/host/devices/batch/status", views.device_batch_status, name="device-batch-status"),
    path("hosting/api/telemetry/<int:miner_id>", views.MinerTelemetryApi.as_view(), name="telemetry-api"),
    path("hosting/api/miner/<int:miner_id>/start", views.MinerStartApi.as_view(), name="miner-start"),
    path("hosting/api/miner/<int:miner_id>/shutdown", views.MinerShutdownApi.as_view(), name="miner-shutdown"),
    path("hosting/api/miner/<int:miner_id>/reboot", views.MinerRebootApi.as_view(), name="miner-reboot"),
    path(
        "hosting/api/miner/<int:miner_id>/power-target", views.MinerPowerTargetApi.as_view(), name="miner-power-target"
    ),
    path("api/v1/hosting/", include(router.urls)),
]

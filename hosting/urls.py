from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import (
    api_curtailment,
    api_energy_prices,
    views,
    views_client,
    views_curtailment,
    views_curtailment_prices,
    views_dashboard,
    views_series,
)
from .live import views as live_views

app_name = "hosting"

router = SimpleRouter()
router.register("sites", views.SiteViewSet, basename="site-api")
router.register("miners", views.MinerViewSet, basename="miner-api")
router.register("telemetry", views.TelemetryViewSet, basename="telemetry-rows-api")
router.register("curtailment/plans", api_curtailment.CurtailmentPlanViewSet, basename="curtailment-plan-api")

urlpatterns = [
    path("hosting/sites/", views.site_list, name="site-list"),
    path("hosting/host/devices", views.device_list, name="device-list"),
    path("hosting/host/devices/batch", views.device_batch, name="device-batch"),
    path("hosting/host/devices/batch/status", views.device_batch_status, name="device-batch-status"),
    path("hosting/api/live/snapshot", live_views.live_snapshot_view, name="live-snapshot"),
    path("hosting/api/telemetry/<int:miner_id>", views.MinerTelemetryApi.as_view(), name="telemetry-api"),
    path("hosting/api/series", views_series.TelemetrySeriesApi.as_view(), name="series-api"),
    path("hosting/client/dashboard", views_client.client_dashboard, name="client-dashboard"),
    path("hosting/miners/<int:pk>", views_client.miner_detail, name="miner-detail"),
    path("hosting/api/miner/<int:miner_id>/start", views.MinerStartApi.as_view(), name="miner-start"),
    path("hosting/api/miner/<int:miner_id>/shutdown", views.MinerShutdownApi.as_view(), name="miner-shutdown"),
    path("hosting/api/miner/<int:miner_id>/reboot", views.MinerRebootApi.as_view(), name="miner-reboot"),
    path(
        "hosting/api/miner/<int:miner_id>/power-target", views.MinerPowerTargetApi.as_view(), name="miner-power-target"
    ),
    path("hosting/dashboard", views_dashboard.host_dashboard_page, name="dashboard"),
    path("hosting/alerts/<int:pk>/acknowledge", views_dashboard.alert_acknowledge_view, name="alert-acknowledge"),
    path("hosting/curtailment", views_curtailment.curtailment_page, name="curtailment"),
    path("hosting/curtailment/plans", views_curtailment.curtailment_plan_create, name="curtailment-plan-create"),
    path("hosting/curtailment/trigger", api_curtailment.CurtailmentTriggerApi.as_view(), name="curtailment-trigger"),
    path("hosting/curtailment/prices", views_curtailment_prices.curtailment_prices, name="curtailment-prices"),
    path("hosting/curtailment/<int:pk>", views_curtailment.curtailment_plan_detail, name="curtailment-plan"),
    path(
        "hosting/curtailment/<int:pk>/cancel", views_curtailment.curtailment_plan_cancel, name="curtailment-plan-cancel"
    ),
    path(
        "hosting/curtailment/<int:pk>/recover-now",
        views_curtailment.curtailment_plan_recover_now,
        name="curtailment-plan-recover-now",
    ),
    path("hosting/curtailment/<int:pk>/power", views_curtailment.curtailment_plan_power, name="curtailment-plan-power"),
    path(
        "api/v1/hosting/curtailment/preview/",
        api_curtailment.CurtailmentPreviewApi.as_view(),
        name="curtailment-preview-api",
    ),
    path(
        "api/v1/hosting/curtailment/plans/<int:pk>/cancel/",
        api_curtailment.CurtailmentPlanCancelApi.as_view(),
        name="curtailment-plan-cancel-api",
    ),
    path(
        "api/v1/hosting/curtailment/plans/<int:pk>/recover-now/",
        api_curtailment.CurtailmentPlanRecoverNowApi.as_view(),
        name="curtailment-plan-recover-now-api",
    ),
    path(
        "api/v1/hosting/curtailment/demand-response/",
        api_curtailment.CurtailmentDemandResponseApi.as_view(),
        name="curtailment-demand-response-api",
    ),
    path(
        "api/v1/hosting/sites/<int:pk>/energy-prices/",
        api_energy_prices.SiteEnergyPricesPostApi.as_view(),
        name="site-energy-prices-api",
    ),
    path("api/v1/hosting/", include(router.urls)),
]

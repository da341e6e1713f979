from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import views

app_name = "calculator"

router = SimpleRouter()
router.register("miner-models", views.MinerModelViewSet, basename="miner-model-api")

urlpatterns = [
    path("api/v1/calculator/", include(router.urls)),
    path("api/v1/calculator/calculate", views.CalculationRunApi.as_view(), name="calculation-run"),
    path("api/v1/calculator/history", views.CalculationHistoryListApi.as_view(), name="calculation-history"),
]

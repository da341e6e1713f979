from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import views, views_batch, views_pages, views_quote

app_name = "calculator"

router = SimpleRouter()
router.register("miner-models", views.MinerModelViewSet, basename="miner-model-api")

urlpatterns = [
    path("calculator", views_pages.calculator_page, name="page"),
    path("calculator/calculate", views_pages.calculator_calculate, name="calculate"),
    path("calculator/history", views_pages.calculation_history, name="history"),
    path("calculator/history/<int:pk>", views_pages.calculation_detail, name="calculation-detail"),
    path("calculator/compare", views_pages.calculator_compare, name="compare"),
    path("calculator/batch", views_batch.batch, name="batch"),
    path(
        "calculator/batch/template.csv", views_batch.batch_template, {"file_format": "csv"}, name="batch-template-csv"
    ),
    path(
        "calculator/batch/template.xlsx",
        views_batch.batch_template,
        {"file_format": "xlsx"},
        name="batch-template-xlsx",
    ),
    path("calculator/batch/<int:pk>", views_batch.batch_detail, name="batch-detail"),
    path("calculator/batch/<int:pk>/status", views_batch.batch_status, name="batch-status"),
    path(
        "calculator/batch/<int:pk>/export.csv",
        views_batch.batch_export,
        {"file_format": "csv"},
        name="batch-export-csv",
    ),
    path(
        "calculator/batch/<int:pk>/export.xlsx",
        views_batch.batch_export,
        {"file_format": "xlsx"},
        name="batch-export-xlsx",
    ),
    path("api/v1/calculator/", include(router.urls)),
    path("api/v1/calculator/calculate", views.CalculationRunApi.as_view(), name="calculation-run"),
    path("api/v1/calculator/quote", views_quote.calculation_quote_view, name="calculation-quote"),
    path("api/v1/calculator/history", views.CalculationHistoryListApi.as_view(), name="calculation-history"),
]

"""Root URLs: each app brings its own pages and /api/v1/<app>/ routes."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from mining_platform.core.rbac import PUBLIC

admin.site.site_header = "Mining Operations Platform: back office"
admin.site.site_title = "Mining Operations back office"
admin.site.index_title = "Back office"


class SchemaView(SpectacularAPIView):
    access_policy = PUBLIC


class SwaggerView(SpectacularSwaggerView):
    access_policy = PUBLIC


urlpatterns = [
    path("", include("mining_platform.core.urls")),
    path("", include("calculator.urls")),
    path("", include("crm.urls")),
    path("", include("hosting.urls")),
    path("", include("analytics.urls")),
    path("", include("treasury.urls")),
    path("", include("billing.urls")),
    path("", include("chain.urls")),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SchemaView.as_view(), name="api-schema"),
    path("api/docs/", SwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

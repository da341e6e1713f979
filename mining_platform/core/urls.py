from django.urls import path

from . import views
from .api import views as api_views

app_name = "core"

urlpatterns = [
    path("", views.home, name="home"),
    path("account/", views.account, name="account"),
    path("healthz", views.healthz, name="healthz"),
    path("api/v1/me/", api_views.MeApi.as_view(), name="me-api"),
]

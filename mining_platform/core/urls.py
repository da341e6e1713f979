from django.urls import path

from . import views
from .api import siwe as siwe_api
from .api import views as api_views

app_name = "core"

urlpatterns = [
    path("", views.home, name="home"),
    path("main", views.main, name="main"),
    path("account/", views.account, name="account"),
    path("healthz", views.healthz, name="healthz"),
    path("api/v1/me/", api_views.MeApi.as_view(), name="me-api"),
    path("auth/siwe/nonce/", siwe_api.SiweNonceApi.as_view(), name="siwe-nonce"),
    path("auth/siwe/verify/", siwe_api.SiweVerifyApi.as_view(), name="siwe-verify"),
]

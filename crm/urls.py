from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import views

app_name = "crm"

router = SimpleRouter()
router.register("customers", views.CustomerViewSet, basename="customer-api")

urlpatterns = [
    path("crm/customers/", views.customer_list, name="customer-list"),
    path("api/v1/crm/", include(router.urls)),
]

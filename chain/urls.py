from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import views

app_name = "chain"

router = SimpleRouter()
router.register("outbox-events", views.OutboxEventViewSet, basename="outbox-event-api")

urlpatterns = [
    path("api/v1/chain/", include(router.urls)),
]

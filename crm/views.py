"""CRM pages and API."""

from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework import viewsets

from mining_platform.core.choices import Role
from mining_platform.core.rbac import STAFF, access, roles

from .models import Customer
from .selectors import customer_list_for_user
from .serializers import CustomerSerializer


@access(STAFF)
def customer_list(request: HttpRequest) -> HttpResponse:
    customers = customer_list_for_user(user=request.user).annotate(user_count=Count("users"))
    return render(request, "crm/customer_list.html", {"customers": customers})


class CustomerViewSet(viewsets.ReadOnlyModelViewSet[Customer]):
    """Hosting customers. Clients see their own account only."""

    access_policy = roles(Role.OWNER, Role.ADMIN, Role.HOST, Role.CLIENT)
    serializer_class = CustomerSerializer
    filterset_fields = ["is_active", "country"]

    def get_queryset(self) -> QuerySet[Customer]:
        return customer_list_for_user(user=self.request.user)

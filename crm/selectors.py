"""Reads of CRM data, scoped to the caller."""

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet

from mining_platform.core.access import scope_to_customer

from .models import Customer


def customer_list_for_user(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Customer]:
    """Customers the user may see: all for operators, their own account for a client."""
    return scope_to_customer(Customer.objects.all(), user=user, customer_field="pk")

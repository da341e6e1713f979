"""The one rule for data visibility: operators see every customer's rows, clients only their own.

Every selector that returns customer-owned rows passes its queryset through `scope_to_customer`,
so no view repeats (or forgets) the rule.
"""

from typing import TypeVar

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import Model, QuerySet

from .choices import OPERATOR_ROLES, Role

_M = TypeVar("_M", bound=Model)


def scope_to_customer(
    queryset: QuerySet[_M], *, user: AbstractBaseUser | AnonymousUser, customer_field: str
) -> QuerySet[_M]:
    """Rows of `queryset` that `user` may see; `customer_field` is the path to the owning customer's id."""
    if not user.is_authenticated or not user.is_active:
        return queryset.none()
    role = getattr(user, "role", None)
    if role in OPERATOR_ROLES:
        return queryset
    customer_id = getattr(user, "customer_id", None)
    if role == Role.CLIENT and customer_id is not None:
        return queryset.filter(**{customer_field: customer_id})
    return queryset.none()

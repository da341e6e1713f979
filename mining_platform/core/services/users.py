"""Users: roles and the staff access that follows them."""

from django.db import transaction

from mining_platform.core.choices import STAFF_ROLES, Role
from mining_platform.core.errors import InvalidInputError, NotFoundError
from mining_platform.core.models import User


@transaction.atomic
def user_role_set(*, user_id: int, role: str, customer_id: int | None) -> User:
    """Give a user a role: staff roles open the back office; only clients belong to a customer.

    Runs in the caller's transaction when there is one (the admin saves the user first).
    """
    if role not in Role.values:
        raise InvalidInputError(fields={"role": [f"unknown role {role!r}"]})
    user = User.objects.select_for_update().filter(pk=user_id).first()
    if user is None:
        raise NotFoundError(f"User {user_id} does not exist.")
    user.role = role
    user.customer_id = customer_id if role == Role.CLIENT else None
    user.is_staff = role in STAFF_ROLES
    user.full_clean()
    user.save(update_fields=["role", "customer", "is_staff"])
    return user

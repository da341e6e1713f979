"""Back-office permissions follow roles: owners and admins manage every model, nobody else any.

Roles replace per-user permission bookkeeping; the one exception is that only owners (superusers)
delete users, so an admin cannot remove the people who granted them access.
"""

from django.contrib.auth.backends import BaseBackend
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import Model

from mining_platform.core.choices import STAFF_ROLES

ADMIN_DENIED_PERMISSIONS = frozenset({"core.delete_user"})


class RolePermissionBackend(BaseBackend):
    def has_perm(self, user_obj: AbstractBaseUser | AnonymousUser, perm: str, obj: Model | None = None) -> bool:
        if not user_obj.is_active or getattr(user_obj, "role", None) not in STAFF_ROLES:
            return False
        return perm not in ADMIN_DENIED_PERMISSIONS

    def has_module_perms(self, user_obj: AbstractBaseUser | AnonymousUser, app_label: str) -> bool:
        return bool(user_obj.is_active and getattr(user_obj, "role", None) in STAFF_ROLES)

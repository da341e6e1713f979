"""Accounts: users with roles, their API keys, wallets and Sign-In with Ethereum nonces."""

from typing import ClassVar

from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.models import AbstractUser
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Lower

from .choices import STAFF_ROLES, ApiScope, Role


class UserManager(BaseUserManager["User"]):
    """Users are identified by e-mail; wallet-only users have none."""

    use_in_migrations = True

    def create_user(self, email: str | None = None, password: str | None = None, **extra: object) -> "User":
        user = self.model(email=self.normalize_email(email) if email else None, **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> "User":
        extra.setdefault("role", Role.OWNER)
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractUser):
    """A person who signs in: staff, a site operator, or a hosting client."""

    username = None  # type: ignore[assignment]  # e-mail (or a wallet) identifies a user
    email = models.EmailField("e-mail address", unique=True, null=True, blank=True)  # type: ignore[assignment]  # wallet-only users have none
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.CLIENT)
    customer = models.ForeignKey(
        "crm.Customer",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="users",
        help_text="For clients: the hosting customer whose data they may see.",
    )

    objects = UserManager()  # type: ignore[assignment,misc]  # e-mail, not username, identifies users

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        db_table = "users"
        constraints = [
            models.UniqueConstraint(Lower("email"), name="users_email_ci_unique"),
            models.CheckConstraint(
                condition=~models.Q(role=Role.CLIENT) | models.Q(is_staff=False),
                name="users_client_not_staff",
            ),
        ]

    def __str__(self) -> str:
        return self.email or f"user {self.pk}"

    @property
    def is_platform_staff(self) -> bool:
        return self.role in STAFF_ROLES


class ApiKey(models.Model):
    """A machine credential: shown once, stored as a SHA-256 hash, found by its visible prefix."""

    name = models.CharField(max_length=100)
    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    scopes = ArrayField(models.CharField(max_length=32, choices=ApiScope.choices), default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "api_keys"
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class Wallet(models.Model):
    """An Ethereum address proven by Sign-In with Ethereum, linked to one user."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="wallets")
    address = models.CharField(max_length=42, unique=True, help_text="EIP-55 checksummed address.")
    chain_id = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "wallets"

    def __str__(self) -> str:
        return self.address


class SiweNonce(models.Model):
    """A server-issued, single-use nonce for one Sign-In with Ethereum attempt."""

    nonce = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "siwe_nonces"
        verbose_name = "SIWE nonce"

    def __str__(self) -> str:
        return self.nonce

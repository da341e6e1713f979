"""Back office for accounts and API keys; writes go through services."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.contrib.sites.models import Site as DjangoSite
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from .choices import ApiScope
from .errors import DomainError
from .models import ApiKey, SiweNonce, User, Wallet
from .services.api_keys import api_key_issue, api_key_revoke
from .services.users import user_role_set

# Roles replace Django's groups, and the sites framework (one site, for allauth) is not for editing:
# hiding both keeps the back office to what operators manage.
admin.site.unregister(Group)
admin.site.unregister(DjangoSite)


@admin.register(User)
class UserAdmin(DjangoUserAdmin[User]):
    ordering = ["email"]
    list_display = ["email", "role", "customer", "is_active", "is_staff", "last_login"]
    list_filter = ["role", "is_active", "is_staff"]
    search_fields = ["email", "first_name", "last_name"]
    list_select_related = ["customer"]
    autocomplete_fields = ["customer"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("first_name", "last_name")}),
        ("Access", {"fields": ("role", "customer", "is_active", "is_superuser")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "role", "customer", "password1", "password2")}),)
    readonly_fields = ["last_login", "date_joined"]

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        # Staff access follows the role; the service keeps is_staff and role consistent.
        user_role_set(user_id=obj.pk, role=obj.role, customer_id=obj.customer_id)


class ApiKeyAddForm(forms.ModelForm[ApiKey]):
    scopes = forms.MultipleChoiceField(choices=ApiScope.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ApiKey
        fields = ["name", "owner", "scopes", "expires_at"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin[ApiKey]):
    list_display = ["name", "prefix", "owner", "scopes", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "owner__email"]
    list_select_related = ["owner"]
    autocomplete_fields = ["owner"]
    actions = ["revoke"]

    def get_form(self, request: HttpRequest, obj: ApiKey | None = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        if obj is None:
            return []
        return ["name", "owner", "prefix", "scopes", "created_at", "expires_at", "last_used_at", "revoked_at"]

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            return  # keys are immutable; revoke and issue a new one instead
        try:
            issued = api_key_issue(
                owner=form.cleaned_data["owner"],
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                expires_at=form.cleaned_data["expires_at"],
                now=timezone.now(),
            )
        except DomainError as exc:
            self.message_user(request, f"{exc.message} {exc.fields}", messages.ERROR)
            return
        obj.pk = issued.api_key.pk
        self.message_user(
            request,
            f"API key created. Copy it now, it will not be shown again: {issued.raw_key}",
            messages.WARNING,
        )

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        now = timezone.now()
        for api_key in queryset.order_by("pk"):
            api_key_revoke(api_key_id=api_key.pk, now=now)
        self.message_user(request, f"Revoked {queryset.count()} API key(s).", messages.SUCCESS)


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin[Wallet]):
    list_display = ["address", "user", "chain_id", "created_at", "last_login_at"]
    search_fields = ["address", "user__email"]
    list_select_related = ["user"]
    readonly_fields = ["address", "chain_id", "created_at", "last_login_at"]


@admin.register(SiweNonce)
class SiweNonceAdmin(admin.ModelAdmin[SiweNonce]):
    list_display = ["nonce", "created_at", "expires_at", "used_at"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SiweNonce | None = None) -> bool:
        return False

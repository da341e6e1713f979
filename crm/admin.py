from django.contrib import admin

from .models import Customer


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin[Customer]):
    list_display = ["name", "billing_email", "contact_name", "country", "is_active", "created_at"]
    list_filter = ["is_active", "country"]
    search_fields = ["name", "billing_email", "contact_name"]

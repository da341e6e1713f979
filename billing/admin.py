from django.contrib import admin  # noqa: F401  # models register here as the module grows

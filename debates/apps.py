from django.apps import AppConfig


class DebatesConfig(AppConfig):
    name = "debates"
    default_auto_field = "django.db.models.BigAutoField"

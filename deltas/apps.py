from django.apps import AppConfig


class DeltasConfig(AppConfig):
    name = "deltas"
    default_auto_field = "django.db.models.BigAutoField"

from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "peercode.events"
    label = "events"
    verbose_name = "Event log"
    default_auto_field = "django.db.models.BigAutoField"

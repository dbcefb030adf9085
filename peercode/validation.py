"""Model validation that speaks PeerCode's error language."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models

from peercode.errors import ValidationFailed


def full_clean(instance: models.Model, *, what: str, exclude: list[str] | None = None) -> None:
    """Run the model's own validation; raise ValidationFailed naming each bad field."""
    try:
        instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except DjangoValidationError as exc:
        fields = {field: [str(m) for m in messages] for field, messages in exc.message_dict.items()}
        summary = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in fields.items())
        raise ValidationFailed(f"Invalid {what}: {summary}", details={"fields": fields}) from exc

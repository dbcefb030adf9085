"""The dry run: would these locks be granted now, and who is in the way. Writes nothing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.utils import timezone

from locks import selectors
from locks.models import Mode, Scope
from locks.rules import LockSpec, validate_spec
from locks.services.validation import MAX_CHECK_SPECS
from peercode.errors import ValidationFailed
from projects.models import Agent


def check_conflicts(*, agent: Agent, specs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Dry run: for each wanted lock, would it be granted now, and if not, who is in the way.

    Writes nothing. Each spec is a mapping with ``path`` and optionally ``scope``,
    ``section``, ``start_line``, ``end_line`` and ``mode`` (as acquire_lock takes them).
    """
    if isinstance(specs, str | bytes | Mapping) or not isinstance(specs, Sequence):
        raise ValidationFailed(
            "specs must be a list of wanted locks such as [{'path': 'src/app.py'}].",
            code="bad_specs",
        )
    if not specs or len(specs) > MAX_CHECK_SPECS:
        raise ValidationFailed(
            f"Give 1 to {MAX_CHECK_SPECS} wanted locks to check, got {len(specs)}.",
            code="bad_specs",
        )
    known = {"path", "scope", "section", "start_line", "end_line", "mode"}
    cleaned: list[LockSpec] = []
    for index, raw in enumerate(specs):
        if not isinstance(raw, Mapping):
            raise ValidationFailed(
                f"specs[{index}] must be an object such as {{'path': 'src/app.py'}}, got {raw!r}.",
                code="bad_specs",
            )
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValidationFailed(
                f"specs[{index}] has unknown field(s) {', '.join(unknown)}; use "
                f"{', '.join(sorted(known))}.",
                code="bad_specs",
            )
        try:
            cleaned.append(
                validate_spec(
                    path=raw.get("path"),
                    scope=raw.get("scope", Scope.FILE),
                    section=raw.get("section", ""),
                    start_line=raw.get("start_line"),
                    end_line=raw.get("end_line"),
                    mode=raw.get("mode", Mode.EXCLUSIVE),
                    holder_id=agent.pk,
                )
            )
        except ValidationFailed as exc:
            raise ValidationFailed(
                f"specs[{index}]: {exc.message}", code=exc.code, details={"index": index}
            ) from exc
    now = timezone.now()
    answers = []
    for spec in cleaned:
        blockers = selectors.find_conflicts(agent.project, spec, now=now)
        answers.append(
            {
                "path": spec.path,
                "scope": spec.scope,
                "section": spec.section or None,
                "start_line": spec.start_line,
                "end_line": spec.end_line,
                "mode": spec.mode,
                "free": not blockers,
                "conflicts": [selectors.as_dict(lock, now=now) for lock in blockers],
            }
        )
    return answers

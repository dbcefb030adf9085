"""Decomposing a project description into a plan with the Anthropic API.

The model is asked to call one tool, ``submit_plan``, whose input schema is the plan document's
own JSON Schema; its answer goes through exactly the validation and import that a plan file
does, so a model cannot put into the database anything a person could not import. Every run is
recorded as a :class:`~projects.models.DecompositionRun`, whatever its outcome.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from peercode.actors import Actor
from peercode.errors import (
    Conflict,
    NotConfigured,
    PeerCodeError,
    UpstreamFailed,
    ValidationFailed,
)
from peercode.events.services import record_event
from projects.models import DecompositionOutcome, DecompositionRun, Project
from projects.plan_format import (
    PLAN_JSON_SCHEMA,
    PlanError,
    PlanInvalid,
    validate_plan_document,
)
from projects.services.common import check_may_import
from projects.services.plan_import import import_plan

if TYPE_CHECKING:
    # The SDK takes seconds to import (thousands of pydantic models); every process imports
    # the services package, so the SDK is imported only when a decomposition actually runs.
    import anthropic
    from anthropic.types import Message, ToolParam

SUBMIT_PLAN_TOOL = "submit_plan"

SYSTEM_PROMPT = """\
You are the planner for a team of AI coding agents that build one codebase in parallel, each \
agent working alone on one task at a time and coordinating only through the plan you write. \
Decompose the project the user describes into a plan and submit it by calling the submit_plan \
tool exactly once.

Optimise the plan for parallel work:
- Small tasks: each one is something a single agent finishes in one sitting (an hour or two of \
focused work), with a clear definition of done in its description.
- Explicit contracts: wherever one task builds something another task uses (an API, a module \
interface, a database schema, an event, a file format), name it as a contract with a concrete \
spec (signatures, fields and types, endpoints, error cases) in the contract's spec, give it an \
owner task, and list it in the providing task's "provides" and in each using task's \
"consumes". A task that consumes a contract can then start from the spec without waiting for \
the provider.
- As few dependencies as possible: add a depends_on edge only when a task truly cannot start \
before the other is finished; prefer a contract over a dependency. No cycles.
- File globs per task (relative to the repository root, such as "src/api/auth/**") that say \
which files the task edits, chosen so that tasks which can run at the same time do not overlap.
- Phases in order, numbered from 1; each task belongs to one phase, and a task depends only on \
tasks in its own or an earlier phase.
- Task keys are short and stable, such as "P1-T3" (phase 1, task 3); every key used in \
depends_on, and every contract named in provides, consumes or owner, must be defined in the \
plan. Use version 1 for the document.
"""

SUBMIT_PLAN_DESCRIPTION = (
    "Submit the complete plan for the project: phases in order, small tasks with their "
    "dependencies, file globs, provided and consumed contracts, and the contracts with concrete "
    "specs. Call this exactly once with the whole plan."
)

# How much of a model's stray answer to quote back in an error.
_TEXT_EXCERPT_CHARS = 300


def _no_progress(message: str) -> None:
    """Progress goes nowhere unless the caller asks for it."""


def require_api_key(*, project_slug: str) -> None:
    """Refuse, saying how to fix it, when no Anthropic API key is configured."""
    if not settings.ANTHROPIC_API_KEY:
        raise NotConfigured(
            "Decomposing a project with the Anthropic API needs an API key, and none is set. "
            "Set one in PeerCode's environment with 'export ANTHROPIC_API_KEY=sk-ant-...' "
            "(keys are at https://console.anthropic.com/settings/keys) and run this again; or "
            "write the plan yourself and import it with "
            f"'python manage.py plan import FILE --project {project_slug}'.",
            code="no_api_key",
        )


def decompose_project(
    *,
    project: Project,
    description: str,
    actor: Actor,
    replace: bool = False,
    model: str | None = None,
    client: anthropic.Anthropic | None = None,
    progress: Callable[[str], None] | None = None,
) -> DecompositionRun:
    """Ask the planning model for a plan of ``project`` and import it.

    Guarantees:
    - Refused before anything is written or sent: an agent asking to replace a plan (only
      humans do that; an agent may give its own empty project a first plan), an
      empty description, an unusable model name, a project that already has a plan unless
      ``replace``, and a missing API key when no client is given.
    - A ``DecompositionRun`` is committed (with a ``decomposition.started`` event) before the
      model is called, and its outcome is always recorded afterwards in its own transaction
      with a ``decomposition.finished`` event: ``succeeded``, ``invalid`` (the answer was not a
      valid plan; ``error`` lists each problem on its own line) or ``failed`` (the API call or
      the import failed).
    - The API call runs outside any database transaction. It streams, so a large
      ``PEERCODE_DECOMPOSE_MAX_TOKENS`` is accepted by the SDK.
    - The model's plan is validated exactly like an imported plan file and imported in the same
      transaction that marks the run succeeded: either the whole plan and the success are
      committed, or neither.
    - Raises ``ValidationFailed`` for an invalid answer, ``UpstreamFailed`` for an API failure,
      and whatever the import raises when the plan cannot be imported; each names the run.
    """
    # The import checks this too; refuse here before any tokens are spent.
    check_may_import(actor, project, replace=replace)
    report = progress or _no_progress
    description = description.strip()
    if not description:
        raise ValidationFailed(
            "The project description is empty. Write what the project should build (its "
            "features, stack and constraints) and pass it again, e.g. with "
            "'python manage.py plan decompose --project SLUG --description-file FILE'.",
            code="empty_description",
        )
    model_name = (model if model is not None else settings.PEERCODE_ANTHROPIC_MODEL).strip()
    max_length = DecompositionRun._meta.get_field("model").max_length or 100
    if not model_name or len(model_name) > max_length:
        raise ValidationFailed(
            f"Model name {model_name!r} is not usable: give an Anthropic model id of 1 to "
            f"{max_length} characters, or set PEERCODE_ANTHROPIC_MODEL.",
            code="invalid_model",
        )
    if not replace:
        _refuse_existing_plan(project, actor)
    if client is None:
        require_api_key(project_slug=project.slug)

    import anthropic

    with transaction.atomic():
        run = DecompositionRun.objects.create(
            project=project,
            requested_by=actor.label,
            model=model_name,
            description=description,
        )
        record_event(
            project=project,
            type="decomposition.started",
            actor=actor,
            subject=f"decomposition:{run.pk}",
            payload={"run": run.pk, "model": model_name, "replace": replace},
        )

    started = time.monotonic()
    owned_client: anthropic.Anthropic | None = None
    try:
        if client is None:
            client = owned_client = anthropic.Anthropic(
                api_key=settings.ANTHROPIC_API_KEY, max_retries=2
            )
        return _ask_and_import(
            run=run,
            client=client,
            actor=actor,
            replace=replace,
            report=report,
            started=started,
        )
    except BaseException as exc:
        # Whatever else escaped (a bug, Ctrl-C in the command), the run must not stay
        # "running". The database, not the instance, says whether an outcome was committed.
        if DecompositionRun.objects.filter(
            pk=run.pk, outcome=DecompositionOutcome.RUNNING
        ).exists():
            run.tasks_created = 0
            _finish(
                run,
                actor=actor,
                outcome=DecompositionOutcome.FAILED,
                started=started,
                error=f"Stopped by {type(exc).__name__}" + (f": {exc}" if str(exc) else ""),
            )
        raise
    finally:
        if owned_client is not None:
            owned_client.close()


def _ask_and_import(
    *,
    run: DecompositionRun,
    client: anthropic.Anthropic,
    actor: Actor,
    replace: bool,
    report: Callable[[str], None],
    started: float,
) -> DecompositionRun:
    import anthropic

    project = run.project
    max_tokens = settings.PEERCODE_DECOMPOSE_MAX_TOKENS
    report(f"asking {run.model} to decompose project {project.slug!r} (run {run.pk})…")
    snapshot: Message | None = None
    try:
        # Streaming: the SDK refuses a non-streaming request that may outlast its 10-minute
        # timeout, which a large max_tokens predicts.
        with client.messages.stream(
            model=run.model,
            max_tokens=max_tokens,
            system=SYSTEM_PROMPT,
            tools=[_submit_plan_tool()],
            tool_choice={"type": "tool", "name": SUBMIT_PLAN_TOOL},
            messages=[{"role": "user", "content": _user_message(project, run.description)}],
        ) as stream:
            for event in stream:
                snapshot = stream.current_message_snapshot
                if event.type == "content_block_start" and event.content_block.type == "tool_use":
                    report("the model is writing the plan…")
            message: Message = stream.get_final_message()
    except anthropic.APIError as exc:
        _record_usage(run, snapshot)
        _finish(
            run,
            actor=actor,
            outcome=DecompositionOutcome.FAILED,
            started=started,
            error=describe_api_error(exc),
        )
        raise UpstreamFailed(_upstream_advice(exc, run), details={"run": run.pk}) from exc
    except ValueError as exc:
        # The SDK raises ValueError when the streamed tool input is not JSON at all; its
        # message quotes the whole answer, so only the start of it is kept.
        _record_usage(run, snapshot)
        problem = f"The model's answer could not be parsed: {_excerpt(str(exc))}"
        _finish(
            run, actor=actor, outcome=DecompositionOutcome.INVALID, started=started, error=problem
        )
        raise _invalid_error(run, [problem]) from exc

    _record_usage(run, message)
    plan_input = _submitted_plan(message, max_tokens=max_tokens)
    if isinstance(plan_input, list):
        _finish(
            run,
            actor=actor,
            outcome=DecompositionOutcome.INVALID,
            started=started,
            error="\n".join(plan_input),
        )
        raise _invalid_error(run, plan_input)

    report(f"received {_count(plan_input, 'tasks')} tasks in {_count(plan_input, 'phases')} phases")
    report("validating")
    try:
        plan = validate_plan_document(plan_input, source=f"{run.model} (decomposition {run.pk})")
    except PlanInvalid as exc:
        problems = [_format_plan_error(error) for error in exc.errors]
        _finish(
            run,
            actor=actor,
            outcome=DecompositionOutcome.INVALID,
            started=started,
            error="\n".join(problems),
        )
        raise _invalid_error(run, problems) from exc

    report("importing")
    try:
        with transaction.atomic():
            result = import_plan(
                project=project, plan=plan, actor=actor, replace=replace, progress=report
            )
            run.tasks_created = result.tasks_created
            _finish(run, actor=actor, outcome=DecompositionOutcome.SUCCEEDED, started=started)
    except PeerCodeError as exc:
        run.tasks_created = 0
        outcome = (
            DecompositionOutcome.INVALID
            if isinstance(exc, ValidationFailed)
            else DecompositionOutcome.FAILED
        )
        _finish(
            run,
            actor=actor,
            outcome=outcome,
            started=started,
            error=f"The plan could not be imported: {exc.message}",
        )
        exc.details = {**exc.details, "run": run.pk}
        raise
    report(f"imported {run.tasks_created} tasks")
    return run


def _refuse_existing_plan(project: Project, actor: Actor) -> None:
    """The import would refuse a project that has a plan; say so before paying for one.

    The import checks again under its lock, so a plan added meanwhile is still refused there.
    """
    if project.phases.exists() or project.tasks.exists() or project.contracts.exists():
        remedy = (
            "Work with the plan it has (get_plan), or ask a human to replace it."
            if actor.is_agent
            else "Decompose with replace (--replace) to delete it and import the new one, or "
            "decompose into a new project."
        )
        raise Conflict(f"Project {project.slug!r} already has a plan. {remedy}", code="plan_exists")


def _submit_plan_tool() -> ToolParam:
    return {
        "name": SUBMIT_PLAN_TOOL,
        "description": SUBMIT_PLAN_DESCRIPTION,
        "input_schema": cast(Any, PLAN_JSON_SCHEMA),
    }


def _user_message(project: Project, description: str) -> str:
    return (
        f"Project {project.name!r} (slug {project.slug!r}). Decompose it into a plan for "
        "parallel work and submit it with submit_plan.\n\n"
        f"<description>\n{description}\n</description>"
    )


def _submitted_plan(message: Message, *, max_tokens: int) -> dict[str, Any] | list[str]:
    """The ``submit_plan`` input, or the problems that make the answer unusable."""
    if message.stop_reason == "max_tokens":
        return [
            f"The model's answer was cut off at the {max_tokens}-token limit before the plan "
            "was complete. Raise PEERCODE_DECOMPOSE_MAX_TOKENS, or shorten the description "
            "(or split the project), and run it again."
        ]
    tool_uses = [block for block in message.content if block.type == "tool_use"]
    plans = [block for block in tool_uses if block.name == SUBMIT_PLAN_TOOL]
    if not plans:
        if tool_uses:
            names = ", ".join(repr(block.name) for block in tool_uses)
            return [f"The model called {names} instead of {SUBMIT_PLAN_TOOL!r}; no plan came back."]
        text = " ".join(block.text for block in message.content if block.type == "text").strip()
        excerpt = _excerpt(text)
        return [
            f"The model answered without calling {SUBMIT_PLAN_TOOL!r} (stop reason "
            f"{message.stop_reason!r}), so no plan came back"
            + (f"; it said: {excerpt}" if excerpt else ".")
        ]
    plan_input = plans[0].input
    if not isinstance(plan_input, dict):
        return [f"The {SUBMIT_PLAN_TOOL!r} input is {type(plan_input).__name__}, not an object."]
    return plan_input


def _excerpt(text: str) -> str:
    return text[:_TEXT_EXCERPT_CHARS] + ("…" if len(text) > _TEXT_EXCERPT_CHARS else "")


def _count(plan_input: dict[str, Any], key: str) -> int:
    items = plan_input.get(key)
    return len(items) if isinstance(items, list) else 0


def _format_plan_error(error: PlanError) -> str:
    # The source is the run itself, named once in the surrounding message.
    return f"{error.item}: {error.message}" if error.item else error.message


def _invalid_error(run: DecompositionRun, problems: list[str]) -> ValidationFailed:
    listed = "\n".join(f"- {problem}" for problem in problems)
    return ValidationFailed(
        f"The model's plan for {run.project.slug!r} was not valid (decomposition run {run.pk}), "
        f"so nothing was imported:\n{listed}\nRun the decomposition again (perhaps with a "
        "clearer description), or write the plan yourself and import it with "
        f"'python manage.py plan import FILE --project {run.project.slug}'.",
        code="invalid_plan",
        details={"run": run.pk, "errors": problems},
    )


def describe_api_error(exc: anthropic.APIError) -> str:
    """One line saying what went wrong with an Anthropic API call, to store or show."""
    import anthropic

    if isinstance(exc, anthropic.APIStatusError):
        request_id = f", request id {exc.request_id}" if exc.request_id else ""
        kind = f" {exc.type}" if exc.type else ""
        detail = exc.api_message or exc.message
        return f"Anthropic API error {exc.status_code}{kind}: {detail}{request_id}"
    if isinstance(exc, anthropic.APITimeoutError):
        return f"Anthropic API request timed out: {exc.message}"
    if isinstance(exc, anthropic.APIConnectionError):
        return f"Could not reach the Anthropic API: {exc.message}"
    return f"Anthropic API error: {exc.message}"


def _upstream_advice(exc: anthropic.APIError, run: DecompositionRun) -> str:
    import_hint = (
        "or write the plan yourself and import it with "
        f"'python manage.py plan import FILE --project {run.project.slug}'"
    )
    what = describe_api_error(exc)
    status = getattr(exc, "status_code", None)
    if status == 401:
        advice = (
            "The API key was refused: check ANTHROPIC_API_KEY (create a key at "
            "https://console.anthropic.com/settings/keys), " + import_hint + "."
        )
    elif status == 403:
        advice = "The key may not use this model: check the key's permissions, " + import_hint + "."
    elif status == 404:
        advice = (
            f"The model {run.model!r} may not exist: set PEERCODE_ANTHROPIC_MODEL or pass "
            "--model with a current model id, " + import_hint + "."
        )
    elif status in (400, 413, 422):
        advice = "Check the description and the model settings, " + import_hint + "."
    elif status == 429:
        advice = "The rate limit was hit: wait a minute and retry, " + import_hint + "."
    else:
        advice = (
            "This is usually temporary (overload, outage or network): retry in a few minutes, "
            + import_hint
            + "."
        )
    return f"Decomposition run {run.pk} failed. {what}. {advice}"


def _record_usage(run: DecompositionRun, message: Message | None) -> None:
    if message is not None:
        run.input_tokens = message.usage.input_tokens or 0
        run.output_tokens = message.usage.output_tokens or 0


def _finish(
    run: DecompositionRun,
    *,
    actor: Actor,
    outcome: str,
    started: float,
    error: str = "",
) -> None:
    """Record the run's outcome and its ``decomposition.finished`` event in one transaction."""
    with transaction.atomic():
        run.outcome = outcome
        run.error = error
        run.duration_ms = max(0, round((time.monotonic() - started) * 1000))
        run.finished_at = timezone.now()
        run.save()
        record_event(
            project=run.project,
            type="decomposition.finished",
            actor=actor,
            subject=f"decomposition:{run.pk}",
            payload={
                "run": run.pk,
                "outcome": outcome,
                "model": run.model,
                "tasks_created": run.tasks_created,
                "input_tokens": run.input_tokens,
                "output_tokens": run.output_tokens,
                "duration_ms": run.duration_ms,
                "error": error,
            },
        )

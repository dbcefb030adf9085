"""Input and output shapes of the plan's REST API.

Input serializers check types, lengths and choices and refuse unknown fields (see
:class:`peercode.api.StrictSerializer`); the services check everything that needs the
database. Output serializers never expose a token hash.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from peercode.api import QuerySerializer, StrictSerializer
from projects.globs import GLOB_LIMITS
from projects.models import ClientKind, ContractKind, Role, TaskStatus

# Bounds on free text, so one request cannot store megabytes in a description.
MAX_TEXT = 20_000
MAX_SPEC = 200_000
MAX_LIST = 1_000
MAX_PHASE_NUMBER = 10_000


def choice_field(choices: Any, what: str, **kwargs: Any) -> serializers.ChoiceField:
    values = ", ".join(str(value) for value, _ in choices)
    return serializers.ChoiceField(
        choices=choices,
        error_messages={"invalid_choice": f'"{{input}}" is not a {what}; use one of {values}.'},
        **kwargs,
    )


def text_field(*, max_length: int = MAX_TEXT, **kwargs: Any) -> serializers.CharField:
    return serializers.CharField(max_length=max_length, allow_blank=True, **kwargs)


def key_list(*, max_length: int, help_text: str, **kwargs: Any) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.CharField(max_length=max_length),
        max_length=MAX_LIST,
        help_text=help_text,
        **kwargs,
    )


def glob_list(*, help_text: str, **kwargs: Any) -> serializers.ListField:
    # No length here: the services check every glob against its limits, with an error that
    # says how to come within them.
    return serializers.ListField(
        child=serializers.CharField(), max_length=MAX_LIST, help_text=help_text, **kwargs
    )


@extend_schema_field(OpenApiTypes.STR)
class RelatedName(serializers.SlugRelatedField[Any]):
    """A related object shown by its key or name (read-only)."""


# Projects ----------------------------------------------------------------------------------


class ProjectOut(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    integration_branch = serializers.CharField()
    max_debate_rounds = serializers.IntegerField()
    debate_round_seconds = serializers.IntegerField()
    debate_stalemate_escalates = serializers.BooleanField()
    default_lock_ttl_seconds = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class ProjectUpdateIn(StrictSerializer):
    require_any = True

    name = serializers.CharField(max_length=200, required=False)
    description = text_field(required=False)
    integration_branch = serializers.CharField(max_length=200, required=False)
    max_debate_rounds = serializers.IntegerField(min_value=1, max_value=50, required=False)
    debate_round_seconds = serializers.IntegerField(
        min_value=30,
        max_value=7 * 86_400,
        required=False,
        help_text="How long a debate round stays open before silent participants hold.",
    )
    debate_stalemate_escalates = serializers.BooleanField(
        required=False, help_text="Escalate a debate early when no stance moved for two rounds."
    )
    default_lock_ttl_seconds = serializers.IntegerField(
        min_value=10, max_value=86_400, required=False
    )


class ProjectCreateIn(StrictSerializer):
    slug = serializers.CharField(
        max_length=50, help_text="1-50 lowercase letters, digits and hyphens, e.g. 'shop-api'."
    )
    name = serializers.CharField(max_length=200)
    description = text_field(required=False)
    integration_branch = serializers.CharField(max_length=200, required=False)
    max_debate_rounds = serializers.IntegerField(min_value=1, max_value=50, required=False)
    debate_round_seconds = serializers.IntegerField(
        min_value=30,
        max_value=7 * 86_400,
        required=False,
        help_text="How long a debate round stays open before silent participants hold.",
    )
    debate_stalemate_escalates = serializers.BooleanField(
        required=False, help_text="Escalate a debate early when no stance moved for two rounds."
    )
    default_lock_ttl_seconds = serializers.IntegerField(
        min_value=10, max_value=86_400, required=False
    )


# Agents ------------------------------------------------------------------------------------


class AgentOut(serializers.Serializer):
    name = serializers.CharField()
    client_kind = serializers.CharField()
    token_prefix = serializers.CharField(
        help_text="The first characters of the token, to tell tokens apart."
    )
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField(allow_null=True)


class AgentCreateIn(StrictSerializer):
    name = serializers.CharField(
        max_length=64, help_text="1-64 letters, digits, '.', '_' or '-', e.g. 'claude-backend'."
    )
    client_kind = choice_field(ClientKind.choices, "client kind", required=False)


class AgentTokenOut(serializers.Serializer):
    agent = AgentOut()
    token = serializers.CharField(help_text="The bearer token. Shown this once; store it now.")
    mcp_config = serializers.DictField(
        help_text="Ready-to-paste MCP client configurations that carry this token, by client."
    )
    message = serializers.CharField()


# Phases and tasks --------------------------------------------------------------------------


class PhaseOut(serializers.Serializer):
    number = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()


class PhaseCreateIn(StrictSerializer):
    name = serializers.CharField(max_length=200)
    number = serializers.IntegerField(
        min_value=1,
        max_value=MAX_PHASE_NUMBER,
        required=False,
        help_text="Leave out to add the phase after the last one.",
    )
    description = text_field(required=False)


class PhaseUpdateIn(StrictSerializer):
    require_any = True

    name = serializers.CharField(max_length=200, required=False)
    description = text_field(required=False)


class TaskOut(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    phase = serializers.IntegerField(source="phase.number")
    status = serializers.CharField()
    assignee = RelatedName(slug_field="name", read_only=True, allow_null=True)
    estimate = serializers.IntegerField()
    depends_on = RelatedName(slug_field="key", many=True, read_only=True)
    file_globs = serializers.ListField(child=serializers.CharField())
    consumes = RelatedName(slug_field="name", many=True, read_only=True)
    provides = RelatedName(slug_field="name", many=True, read_only=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class TaskDetailOut(TaskOut):
    dependents = RelatedName(slug_field="key", many=True, read_only=True)


class TaskCreateIn(StrictSerializer):
    key = serializers.CharField(max_length=40, help_text="Unique key such as 'P1-T3'.")
    title = serializers.CharField(max_length=300)
    phase = serializers.IntegerField(
        min_value=1, max_value=MAX_PHASE_NUMBER, help_text="Number of an existing phase."
    )
    description = text_field(required=False)
    depends_on = key_list(max_length=40, help_text="Keys of tasks to finish first.", required=False)
    file_globs = glob_list(
        help_text=f"Repository-relative paths or globs, e.g. 'src/api/**'. {GLOB_LIMITS}",
        required=False,
    )
    consumes = key_list(
        max_length=120, help_text="Names of contracts the task relies on.", required=False
    )
    estimate = serializers.IntegerField(min_value=1, max_value=1000, required=False)


class TaskUpdateIn(StrictSerializer):
    require_any = True

    title = serializers.CharField(max_length=300, required=False)
    description = text_field(required=False)
    phase = serializers.IntegerField(min_value=1, max_value=MAX_PHASE_NUMBER, required=False)
    depends_on = key_list(
        max_length=40, help_text="The full new list of dependency keys.", required=False
    )
    file_globs = glob_list(help_text=f"The full new list of globs. {GLOB_LIMITS}", required=False)
    consumes = key_list(
        max_length=120, help_text="The full new list of consumed contracts.", required=False
    )
    estimate = serializers.IntegerField(min_value=1, max_value=1000, required=False)


class TaskStatusIn(StrictSerializer):
    status = choice_field(TaskStatus.choices, "task status")
    note = text_field(max_length=2_000, required=False)


class TaskFilter(QuerySerializer):
    status = choice_field(TaskStatus.choices, "task status", required=False)
    phase = serializers.IntegerField(min_value=1, max_value=MAX_PHASE_NUMBER, required=False)
    assignee = serializers.CharField(max_length=64, required=False, help_text="An agent's name.")


class PlanTaskOut(TaskOut):
    wave = serializers.SerializerMethodField(
        help_text="The task's wave: 1 has no dependencies, n depends only on earlier waves."
    )

    @extend_schema_field(OpenApiTypes.INT)
    def get_wave(self, task: Any) -> int | None:
        return self.context["wave_of"].get(task.key)


class PlanPhaseOut(PhaseOut):
    tasks = PlanTaskOut(many=True)


class CriticalPathOut(serializers.Serializer):
    keys = serializers.ListField(child=serializers.CharField())
    length = serializers.IntegerField(help_text="The sum of the estimates along the path.")


class CollisionOut(serializers.Serializer):
    first = serializers.CharField()
    second = serializers.CharField()
    globs = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="The overlapping pairs of globs, first task's glob then second's.",
    )


class PlanOut(serializers.Serializer):
    project = serializers.CharField(help_text="The project's slug.")
    phases = PlanPhaseOut(many=True)
    waves = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Task keys that can run in parallel, wave by wave.",
    )
    critical_path = CriticalPathOut()
    collisions = CollisionOut(many=True)
    collisions_complete = serializers.BooleanField(
        help_text="False when the plan has more globs to compare than one analysis does "
        "(docs/limits.md): collisions then lists those found within the limit."
    )


class PlanImportQuery(QuerySerializer):
    replace = serializers.BooleanField(
        required=False,
        default=False,
        help_text="true: replace the existing plan; false (default): refuse a non-empty plan.",
    )


class PlanDecomposeIn(StrictSerializer):
    description = serializers.CharField(
        max_length=MAX_TEXT, help_text="What the project should build: features, stack, limits."
    )
    replace = serializers.BooleanField(required=False, default=False)
    model = serializers.CharField(
        max_length=100, required=False, help_text="Anthropic model id; defaults to the server's."
    )


class DecompositionRunOut(serializers.Serializer):
    id = serializers.IntegerField()
    requested_by = serializers.CharField()
    model = serializers.CharField()
    outcome = serializers.CharField()
    error = serializers.CharField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    duration_ms = serializers.IntegerField()
    tasks_created = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


# Contracts ---------------------------------------------------------------------------------


class ContractVersionOut(serializers.Serializer):
    number = serializers.IntegerField()
    spec = serializers.CharField()
    rationale = serializers.CharField()
    author = serializers.CharField()
    created_at = serializers.DateTimeField()


class ContractOut(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.CharField()
    description = serializers.CharField()
    owner_task = RelatedName(slug_field="key", read_only=True, allow_null=True)
    consumers = RelatedName(slug_field="key", many=True, read_only=True)
    latest_version = serializers.SerializerMethodField(
        help_text="Number of the newest version, or null before the first one."
    )
    created_at = serializers.DateTimeField()

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_latest_version(self, contract: Any) -> int | None:
        # Versions are prefetched in number order by the selectors.
        versions = list(contract.versions.all())
        return versions[-1].number if versions else None


class ContractDetailOut(ContractOut):
    versions = ContractVersionOut(many=True, help_text="Every version, oldest first.")


class ContractCreateIn(StrictSerializer):
    name = serializers.CharField(
        max_length=120,
        help_text="1-120 letters, digits, spaces or . _ : / -, e.g. 'AuthAPI'.",
    )
    kind = choice_field(ContractKind.choices, "contract kind", required=False)
    description = text_field(required=False)
    owner_task = serializers.CharField(
        max_length=40, required=False, help_text="Key of the task that provides the contract."
    )
    spec = serializers.CharField(
        max_length=MAX_SPEC,
        trim_whitespace=False,
        required=False,
        help_text="The interface itself; becomes version 1.",
    )
    rationale = text_field(required=False)


class ContractVersionIn(StrictSerializer):
    spec = serializers.CharField(
        max_length=MAX_SPEC, trim_whitespace=False, help_text="The complete new spec."
    )
    rationale = text_field(required=False, help_text="Why it changed.")
    summary = serializers.CharField(
        max_length=200,
        required=False,
        help_text="One line for the contract_change delta every consumer receives; by default "
        "'<name>: new version published'.",
    )
    significance = choice_field(
        [("info", "Info"), ("normal", "Normal"), ("breaking", "Breaking")],
        "significance",
        required=False,
        help_text="How the consumers must treat the change; 'breaking' (the default) asks each "
        "to acknowledge it.",
    )


class ContractPublishedOut(ContractVersionOut):
    delta_seq = serializers.IntegerField(
        help_text="The contract_change delta that told every consumer of the new version."
    )


# Events ------------------------------------------------------------------------------------


class EventOut(serializers.Serializer):
    id = serializers.UUIDField()
    type = serializers.CharField()
    actor = serializers.CharField()
    subject = serializers.CharField()
    payload = serializers.DictField()
    created_at = serializers.DateTimeField()


class EventFilter(QuerySerializer):
    type = serializers.CharField(max_length=64, required=False, help_text="e.g. task.claimed")
    subject = serializers.CharField(max_length=300, required=False, help_text="e.g. task:P1-T3")
    actor = serializers.CharField(max_length=200, required=False, help_text="e.g. agent:claude")
    since = serializers.DateTimeField(
        required=False, help_text="ISO 8601 time; only events at or after it."
    )


# Whoami ------------------------------------------------------------------------------------


class MeProjectOut(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()


class MembershipOut(serializers.Serializer):
    project = serializers.CharField(source="project.slug")
    user = serializers.CharField(source="user.username")
    role = serializers.ChoiceField(choices=Role.choices)
    created_at = serializers.DateTimeField()


class MemberIn(StrictSerializer):
    user = serializers.CharField(max_length=150, help_text="The member's username.")
    role = choice_field(Role.choices, "role")


class MemberRoleIn(StrictSerializer):
    role = choice_field(Role.choices, "role")


class MeOut(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["agent", "user"])
    name = serializers.CharField()
    is_staff = serializers.BooleanField(
        help_text="Staff and superusers may do everything in every project."
    )
    roles = MembershipOut(many=True, help_text="A human's role in each of its projects.")
    project = MeProjectOut(allow_null=True, help_text="An agent's project; null for a human.")
    in_progress_tasks = TaskOut(many=True, help_text="Tasks the agent is working on now.")

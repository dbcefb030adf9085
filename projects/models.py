"""The plan: projects, agents, phases, tasks, contracts and their immutable versions."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

SLUG_VALIDATOR = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$",
    "Use 1-50 lowercase letters, digits and hyphens, not starting or ending with a hyphen.",
)
TASK_KEY_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$",
    "A task key is 1-40 letters, digits, '.', '_' or '-', such as 'P1-T3'.",
)
CONTRACT_NAME_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._:/ -]{0,119}$",
    "A contract name is 1-120 letters, digits, spaces or . _ : / -, such as 'AuthAPI'.",
)
AGENT_NAME_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
    "An agent name is 1-64 letters, digits, '.', '_' or '-', such as 'claude-backend'.",
)


class CouplingGuard(models.TextChoices):
    WARN = "warn", "Warn"
    REFUSE = "refuse", "Refuse"


class Project(models.Model):
    slug = models.SlugField(max_length=50, unique=True, validators=[SLUG_VALIDATOR])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    integration_branch = models.CharField(max_length=200, default="peer-progress")
    max_debate_rounds = models.PositiveSmallIntegerField(
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text="Rounds a debate may take before it escalates to a human.",
    )
    debate_round_seconds = models.PositiveIntegerField(
        default=3600,
        validators=[MinValueValidator(30), MaxValueValidator(7 * 86400)],
        help_text=(
            "How long a debate round stays open; when it runs out, a participant who has not "
            "taken its turn counts as holding its last position."
        ),
    )
    debate_stalemate_escalates = models.BooleanField(
        default=True,
        help_text=(
            "Escalate a debate to a human early when no participant's stance moved for two "
            "rounds, instead of waiting for the last round."
        ),
    )
    default_lock_ttl_seconds = models.PositiveIntegerField(
        default=900, validators=[MinValueValidator(10), MaxValueValidator(86400)]
    )
    max_lock_ttl_seconds = models.PositiveIntegerField(
        default=3600,
        validators=[MinValueValidator(10), MaxValueValidator(86400)],
        help_text="The longest lease an agent may ask for in one acquire or renew.",
    )
    push_lease_seconds = models.PositiveIntegerField(
        default=300,
        validators=[MinValueValidator(10), MaxValueValidator(86400)],
        help_text="How long the agent at the head of the push queue has to push.",
    )
    git_repository = models.CharField(
        max_length=1000,
        blank=True,
        help_text=(
            "A local path (working copy or bare repository) the server can read; when set, "
            "completed pushes are checked with git."
        ),
    )
    coupling_guard = models.CharField(
        max_length=10,
        choices=CouplingGuard.choices,
        default=CouplingGuard.WARN,
        help_text=(
            "What happens when an agent acts on the code without having acknowledged a breaking "
            "change to a contract its task consumes: a warning, or a refusal."
        ),
    )
    # Bumped by every change that can alter the plan's analysis (tasks, their dependencies,
    # globs, estimates, phases); the cached analysis is keyed by it.
    plan_revision = models.PositiveBigIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Role(models.TextChoices):
    """A human's role in one project; each role may do everything the one before it may."""

    VIEWER = "viewer", "Viewer"
    LEAD = "lead", "Lead"
    ADMIN = "admin", "Admin"


class Membership(models.Model):
    """A human's role in a project. Django staff and superusers need none: they may do all."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="project_memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "user"]
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.project}"


class ClientKind(models.TextChoices):
    CLAUDE_CODE = "claude_code", "Claude Code"
    CURSOR = "cursor", "Cursor"
    CODEX = "codex", "Codex"
    WINDSURF = "windsurf", "Windsurf"
    OTHER = "other", "Other MCP client"


class Agent(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="agents")
    name = models.CharField(max_length=64, validators=[AGENT_NAME_VALIDATOR])
    client_kind = models.CharField(
        max_length=20, choices=ClientKind.choices, default=ClientKind.OTHER
    )
    # sha256 of the bearer token; the token itself is shown once and never stored.
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    token_prefix = models.CharField(max_length=16, editable=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="agent_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.project.slug})"

    # Lets DRF's IsAuthenticated accept an agent as request.user.
    is_authenticated = True
    is_anonymous = False
    is_staff = False


class Phase(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="phases")
    number = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["project", "number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="phase_unique_number")
        ]

    def __str__(self) -> str:
        return f"Phase {self.number}: {self.name}"


class TaskStatus(models.TextChoices):
    BACKLOG = "backlog", "Backlog"
    READY = "ready", "Ready"
    IN_PROGRESS = "in_progress", "In progress"
    REVIEW = "review", "Review"
    BLOCKED = "blocked", "Blocked"
    DONE = "done", "Done"


# The legal moves between statuses. Claiming (ready -> in_progress) also sets the assignee;
# moving to ready needs every dependency done. Done is final: reopened work is a new task.
TASK_TRANSITIONS: dict[str, frozenset[str]] = {
    TaskStatus.BACKLOG: frozenset({TaskStatus.READY, TaskStatus.BLOCKED}),
    TaskStatus.READY: frozenset({TaskStatus.IN_PROGRESS, TaskStatus.BACKLOG, TaskStatus.BLOCKED}),
    TaskStatus.IN_PROGRESS: frozenset({TaskStatus.REVIEW, TaskStatus.BLOCKED, TaskStatus.READY}),
    TaskStatus.REVIEW: frozenset({TaskStatus.DONE, TaskStatus.IN_PROGRESS, TaskStatus.BLOCKED}),
    TaskStatus.BLOCKED: frozenset({TaskStatus.BACKLOG, TaskStatus.READY, TaskStatus.IN_PROGRESS}),
    TaskStatus.DONE: frozenset(),
}


class Task(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="tasks")
    phase = models.ForeignKey(Phase, on_delete=models.CASCADE, related_name="tasks")
    key = models.CharField(max_length=40, validators=[TASK_KEY_VALIDATOR])
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    status = models.CharField(
        max_length=20, choices=TaskStatus.choices, default=TaskStatus.BACKLOG, db_index=True
    )
    assignee = models.ForeignKey(
        Agent, on_delete=models.SET_NULL, null=True, blank=True, related_name="tasks"
    )
    estimate = models.PositiveIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text="Relative size (hours or points); weights the critical path.",
    )
    depends_on = models.ManyToManyField(
        "self", symmetrical=False, related_name="dependents", blank=True
    )
    file_globs = models.JSONField(
        default=list, blank=True, help_text="Repository paths or globs the task expects to touch."
    )
    consumes: models.ManyToManyField[Contract, Any] = models.ManyToManyField(
        "Contract", related_name="consumers", blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project", "phase__number", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "key"], name="task_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.key}: {self.title}"


class ContractKind(models.TextChoices):
    API = "api", "API"
    FUNCTION = "function", "Function"
    SCHEMA = "schema", "Schema"
    EVENT = "event", "Event"
    OTHER = "other", "Other"


class Contract(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="contracts")
    name = models.CharField(max_length=120, validators=[CONTRACT_NAME_VALIDATOR])
    kind = models.CharField(max_length=20, choices=ContractKind.choices, default=ContractKind.API)
    description = models.TextField(blank=True)
    owner_task = models.ForeignKey(
        Task,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="provides",
        help_text="The task that provides (owns) this contract.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="contract_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class ContractVersion(models.Model):
    """One immutable version of a contract's spec; numbered 1, 2, 3 per contract."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    spec = models.TextField()
    rationale = models.TextField(blank=True)
    author = models.CharField(max_length=200, help_text="Who wrote this version (actor label).")
    author_agent = models.ForeignKey(
        Agent, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["contract", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "number"], name="contract_version_unique_number"
            )
        ]

    def __str__(self) -> str:
        return f"{self.contract.name} v{self.number}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise RuntimeError("Contract versions are immutable; publish a new version instead.")
        super().save(*args, **kwargs)


class DecompositionOutcome(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    INVALID = "invalid", "Model returned an invalid plan"
    FAILED = "failed", "API call failed"


class DecompositionRun(models.Model):
    """One call to the planning model, kept whatever its outcome."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="decomposition_runs"
    )
    requested_by = models.CharField(max_length=200)
    model = models.CharField(max_length=100)
    description = models.TextField()
    outcome = models.CharField(
        max_length=20, choices=DecompositionOutcome.choices, default=DecompositionOutcome.RUNNING
    )
    error = models.TextField(blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(default=0)
    tasks_created = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.project.slug} {self.model} {self.outcome}"

"""Phases and tasks in the admin; a task's status moves only along its legal transitions."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db import models
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from projects import services
from projects.admin.service_admin import (
    ReadOnlyInline,
    ServiceAdmin,
    ServiceForm,
    actor_for,
    changelist_link,
    label_with_project,
)
from projects.models import TASK_TRANSITIONS, Contract, Phase, Task, TaskStatus

# Phases ------------------------------------------------------------------------------------


class PhaseAddForm(ServiceForm):
    number = forms.IntegerField(
        required=False,
        min_value=1,
        help_text="Leave empty to add the phase after the project's last one.",
    )

    class Meta:
        model = Phase
        fields = ("project", "number", "name", "description")


class TaskInline(ReadOnlyInline):
    model = Task
    fields = ("key", "title", "status", "assignee")
    readonly_fields = fields


@admin.register(Phase)
class PhaseAdmin(ServiceAdmin):
    add_form = PhaseAddForm
    list_display = ("number", "name", "project", "tasks")
    list_display_links = ("number", "name")
    list_filter = ("project",)
    search_fields = ("name", "description", "project__slug")
    list_select_related = ("project",)
    inlines = (TaskInline,)
    fields = ("project", "number", "name", "description")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Phase]:
        return super().get_queryset(request).annotate(task_count=Count("tasks"))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("project", "number") if obj else ()

    @admin.display(description="tasks", ordering="task_count")
    def tasks(self, phase: Any) -> str:
        return changelist_link(Task, str(phase.task_count), phase=phase.pk)

    # No delete service for phases (their tasks would go with them): edit or move tasks.
    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def create(self, request: HttpRequest, form: forms.ModelForm) -> Phase:
        data = form.cleaned_data
        return services.add_phase(
            project=data["project"],
            number=data["number"],
            name=data["name"],
            description=data["description"],
            actor=actor_for(request),
        )

    def update(self, request: HttpRequest, obj: Phase, form: forms.ModelForm) -> Phase:
        changes = {field: form.cleaned_data[field] for field in form.changed_data}
        if not changes:
            return obj
        return services.update_phase(phase=obj, actor=actor_for(request), **changes)


# Tasks -------------------------------------------------------------------------------------


class GlobLinesField(forms.Field):
    """A list of paths or globs, typed one per line."""

    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> list[str]:
        if isinstance(value, list):
            return value
        return [line.strip() for line in str(value or "").splitlines() if line.strip()]


class TaskForm(ServiceForm):
    """Related choices come from the task's own project; while adding, each names its project."""

    file_globs = GlobLinesField(
        required=False, help_text="Paths or globs the task expects to touch, one per line."
    )
    move_to = forms.ChoiceField(
        required=False,
        choices=[("", "— keep the current status —"), *TaskStatus.choices],
        label="Move to status",
    )
    status_note = forms.CharField(required=False, label="Note on the move")

    class Meta:
        model = Task
        fields = (
            "project",
            "phase",
            "key",
            "title",
            "description",
            "estimate",
            "file_globs",
            "depends_on",
            "consumes",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        task = self.instance
        scoped = {
            "phase": Phase.objects.select_related("project").order_by("project__slug", "number"),
            "depends_on": Task.objects.select_related("project").order_by("project__slug", "key"),
            "consumes": Contract.objects.select_related("project").order_by(
                "project__slug", "name"
            ),
        }
        for name, queryset in scoped.items():
            field = self.fields.get(name)
            if not isinstance(field, forms.ModelChoiceField):
                continue
            if task.pk:
                queryset = queryset.filter(project_id=task.project_id)
                if name == "depends_on":
                    queryset = queryset.exclude(pk=task.pk)
            else:
                field.label_from_instance = label_with_project  # type: ignore[method-assign]
            field.queryset = queryset
        if task.pk and "move_to" in self.fields:
            allowed = sorted(TASK_TRANSITIONS[task.status]) or ["none (done is final)"]
            self.fields[
                "move_to"
            ].help_text = f"From {task.status} a task can go to: {', '.join(allowed)}."

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        project = cleaned.get("project") or (self.instance.project if self.instance.pk else None)
        if project is None:
            return cleaned
        strays = [
            str(choice)
            for name in ("phase", "depends_on", "consumes")
            for choice in _as_list(cleaned.get(name))
            if choice.project_id != project.pk
        ]
        if strays:
            raise forms.ValidationError(
                f"{', '.join(strays)} belong to another project; choose phases, tasks and "
                f"contracts of project {project.slug!r}."
            )
        return cleaned


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, models.Model):
        return [value]
    return list(value)


class PhaseListFilter(admin.SimpleListFilter):
    """Phases named with their project, narrowed to the project filtered on, if any."""

    title = "phase"
    parameter_name = "phase"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        phases = Phase.objects.select_related("project").order_by("project__slug", "number")
        project_id = request.GET.get("project__id__exact", "")
        if project_id.isdigit():
            phases = phases.filter(project_id=int(project_id))
        return [(str(phase.pk), label_with_project(phase)) for phase in phases]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(phase_id=value) if value else queryset


@admin.register(Task)
class TaskAdmin(ServiceAdmin):
    form = TaskForm
    list_display = ("key", "title", "phase", "status", "assignee", "project")
    list_filter = ("project", "status", PhaseListFilter)
    search_fields = ("key", "title")
    list_select_related = ("project", "phase", "assignee")
    filter_horizontal = ("depends_on", "consumes")
    plan_fields = ("title", "description", "phase", "estimate", "file_globs")
    relation_fields = ("depends_on", "consumes")

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return (
                (None, {"fields": ("project", "key", *self.plan_fields)}),
                ("Dependencies and contracts", {"fields": self.relation_fields}),
            )
        return (
            (None, {"fields": ("project", "key", *self.plan_fields)}),
            ("Dependencies and contracts", {"fields": self.relation_fields}),
            (
                "Status",
                {
                    "fields": ("status", "assignee", "move_to", "status_note"),
                    "description": "Status changes follow the task's legal transitions; "
                    "agents claim ready tasks themselves.",
                },
            ),
            ("History", {"fields": ("created_at", "updated_at")}),
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ()
        return ("project", "key", "status", "assignee", "created_at", "updated_at")

    # No delete service for tasks: a task other tasks depend on cannot silently vanish.
    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def create(self, request: HttpRequest, form: forms.ModelForm) -> Task:
        data = form.cleaned_data
        return services.add_task(
            project=data["project"],
            key=data["key"],
            title=data["title"],
            phase_number=data["phase"].number,
            description=data["description"],
            estimate=data["estimate"],
            file_globs=data["file_globs"],
            depends_on=[task.key for task in data["depends_on"]],
            consumes=[contract.name for contract in data["consumes"]],
            actor=actor_for(request),
        )

    def update(self, request: HttpRequest, obj: Task, form: forms.ModelForm) -> Task:
        data, changed = form.cleaned_data, set(form.changed_data)
        changes: dict[str, Any] = {
            field: data[field]
            for field in ("title", "description", "estimate", "file_globs")
            if field in changed
        }
        if "phase" in changed:
            changes["phase_number"] = data["phase"].number
        if "depends_on" in changed:
            changes["depends_on"] = [task.key for task in data["depends_on"]]
        if "consumes" in changed:
            changes["consumes"] = [contract.name for contract in data["consumes"]]
        task = obj
        if changes:
            task = services.update_task(task=task, actor=actor_for(request), **changes)
        if data.get("move_to"):
            task = services.change_task_status(
                task=task,
                status=data["move_to"],
                note=data.get("status_note", ""),
                actor=actor_for(request),
            )
        return task

"""Contracts in the admin: they change by publishing versions, and versions are immutable."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Max, QuerySet
from django.http import HttpRequest

from deltas.services import publish_contract_change
from peercode.events.admin import ReadOnlyAdmin
from projects import services
from projects.admin.service_admin import (
    ReadOnlyInline,
    ServiceAdmin,
    ServiceForm,
    actor_for,
    label_with_project,
)
from projects.models import Contract, ContractVersion, Task


class ContractAddForm(ServiceForm):
    spec = forms.CharField(
        widget=forms.Textarea,
        required=False,
        help_text="The spec of version 1; leave empty to publish it later.",
    )
    rationale = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    class Meta:
        model = Contract
        fields = ("project", "name", "kind", "description", "owner_task")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        owner = self.fields.get("owner_task")
        if isinstance(owner, forms.ModelChoiceField):
            owner.queryset = Task.objects.select_related("project").order_by("project__slug", "key")
            owner.label_from_instance = label_with_project  # type: ignore[method-assign]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        project, owner = cleaned.get("project"), cleaned.get("owner_task")
        if project is not None and owner is not None and owner.project_id != project.pk:
            self.add_error("owner_task", f"Choose a task of project {project.slug!r}.")
        return cleaned


class ContractChangeForm(ServiceForm):
    new_spec = forms.CharField(
        widget=forms.Textarea,
        required=False,
        label="Publish a new version",
        help_text="The complete new spec. It becomes the next version; versions are immutable.",
    )
    new_rationale = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, label="Why it changed"
    )

    class Meta:
        model = Contract
        fields: tuple[str, ...] = ()


class ContractVersionInline(ReadOnlyInline):
    model = ContractVersion
    fields = ("number", "author", "rationale", "created_at")
    readonly_fields = fields
    ordering = ("-number",)


@admin.register(Contract)
class ContractAdmin(ServiceAdmin):
    form = ContractChangeForm
    add_form = ContractAddForm
    list_display = ("name", "project", "kind", "owner_task", "latest_version")
    list_filter = ("kind", "project")
    search_fields = ("name", "description", "project__slug")
    list_select_related = ("project", "owner_task")
    inlines = (ContractVersionInline,)
    shown_fields = ("project", "name", "kind", "description", "owner_task", "created_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Contract]:
        return super().get_queryset(request).annotate(latest=Max("versions__number"))

    @admin.display(description="latest version", ordering="latest")
    def latest_version(self, contract: Any) -> str:
        return f"v{contract.latest}" if contract.latest else "-"

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("project", "name", "kind", "description", "owner_task", "spec", "rationale")
        return (*self.shown_fields, "new_spec", "new_rationale")

    # There is no service to edit a contract's own fields: it changes by new versions.
    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.shown_fields if obj else ()

    # No delete service for contracts: tasks consume them and versions record who agreed.
    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def create(self, request: HttpRequest, form: forms.ModelForm) -> Contract:
        data = form.cleaned_data
        owner = data["owner_task"]
        return services.add_contract(
            project=data["project"],
            name=data["name"],
            kind=data["kind"],
            description=data["description"],
            owner_task_key=owner.key if owner else None,
            spec=data["spec"] or None,
            rationale=data["rationale"],
            actor=actor_for(request),
        )

    def update(self, request: HttpRequest, obj: Contract, form: forms.ModelForm) -> Contract:
        spec = form.cleaned_data.get("new_spec", "")
        if spec:
            publish_contract_change(
                contract=obj,
                spec=spec,
                rationale=form.cleaned_data.get("new_rationale", ""),
                actor=actor_for(request),
            )
        return obj


@admin.register(ContractVersion)
class ContractVersionAdmin(ReadOnlyAdmin):
    list_display = ("contract", "number", "project", "author", "created_at")
    list_filter = ("contract__project", "contract__kind")
    search_fields = ("contract__name", "spec", "rationale", "author")
    list_select_related = ("contract__project",)
    fields = ("contract", "number", "author", "author_agent", "rationale", "spec", "created_at")

    @admin.display(description="project", ordering="contract__project__slug")
    def project(self, version: ContractVersion) -> str:
        return version.contract.project.slug

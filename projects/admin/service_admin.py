"""What every plan admin shares: forms and changes that go through the services.

A :class:`ServiceAdmin` hands the validated form to a service, called as the logged-in human, so
a change made in the admin is checked by the same rules as one made over the API or MCP and is
recorded in the event log. A service's refusal comes back as an error on the form, with what
was typed kept; the admin's transaction rolls back, so nothing is half-saved.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html

from peercode.actors import Actor
from peercode.errors import PeerCodeError

# Where changeform_view leaves a service's refusal for get_form to put on the re-shown form.
_SERVICE_ERROR_ATTR = "_peercode_service_error"


def actor_for(request: HttpRequest) -> Actor:
    return Actor.for_user(request.user)


def adopt(target: models.Model, source: models.Model) -> None:
    """Make the admin's own, unsaved instance mirror the row the service saved.

    The admin goes on to log, message and redirect with its instance, so it needs the pk and
    the values that were actually stored (a phase's chosen number, a task's new status).
    """
    for field in source._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))
    target._state.adding = False
    target._state.db = source._state.db


class ServiceForm(forms.ModelForm):
    """A model form that a service saves; the service's refusal is its non-field error."""

    service_error: str = ""

    def clean(self) -> dict[str, Any]:
        super().clean()
        if self.service_error:
            raise forms.ValidationError(self.service_error)
        return self.cleaned_data


class ServiceAdmin(admin.ModelAdmin):
    """An admin whose add and change forms are saved by services, never by the ORM.

    Subclasses implement :meth:`create` and :meth:`update`, each calling services as the
    logged-in human. ``add_form``, when set, is the form for adding (often with other fields
    than the change form).
    """

    form = ServiceForm
    add_form: type[ServiceForm] | None = None

    def create(self, request: HttpRequest, form: forms.ModelForm) -> models.Model:
        raise NotImplementedError(f"{type(self).__name__} must add through a service.")

    def update(self, request: HttpRequest, obj: Any, form: forms.ModelForm) -> models.Model:
        raise NotImplementedError(f"{type(self).__name__} must change through a service.")

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm]:
        if obj is None and self.add_form is not None:
            kwargs["form"] = self.add_form
        form_class = super().get_form(request, obj, change, **kwargs)
        error = getattr(request, _SERVICE_ERROR_ATTR, None)
        if error:
            form_class = cast(
                type[forms.ModelForm],
                type(form_class.__name__, (form_class,), {"service_error": error}),
            )
        return form_class

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except PeerCodeError as exc:
            # The admin's transaction has rolled back, so nothing changed. Show the same
            # form again, with what was typed and the service's message as its error.
            setattr(request, _SERVICE_ERROR_ATTR, exc.message)
            return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        saved = self.update(request, obj, form) if change else self.create(request, form)
        adopt(obj, saved)

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> Any:
        # Inlines here show what an object holds; there is nothing to show while adding it.
        return self.inlines if obj is not None else ()

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # The service has already written the object's relations (dependencies, consumed
        # contracts); the form's own save_m2m would bypass it. Inlines here are read-only,
        # so they saved nothing, which the admin's change message needs to be told.
        for formset in formsets:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def changelist_link(model: type[models.Model], label: str, **filters: Any) -> str:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    query = "&".join(f"{key}={value}" for key, value in filters.items())
    return format_html('<a href="{}?{}">{}</a>', url, query, label)


def label_with_project(obj: Any) -> str:
    """A choice's label that names its project, for forms that offer rows of every project."""
    return f"{obj.project.slug} · {obj}"

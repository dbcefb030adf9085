"""The debate admin: the list of debates, most urgent first, each debate's page with its
transcript, and the URL each human decision POSTs to.

Nobody edits a debate's rows here: the page is :func:`debates.admin.page.debate_page`, and a
decision goes through its form in :mod:`debates.admin.decisions` to the debate services, as
the logged-in human.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from debates import selectors
from debates.admin.decisions import DECISIONS
from debates.admin.page import debate_page
from debates.models import Debate
from peercode.errors import PeerCodeError
from peercode.events.admin import ReadOnlyAdmin
from peercode.events.models import Event
from projects.admin.service_admin import actor_for, changelist_link

# Where get_changelist_instance leaves each listed debate's list shape (participants, awaiting).
_BRIEF_ATTR = "_admin_brief"


def _subject(subject: dict[str, Any]) -> str:
    if subject["kind"] == "contract":
        return f"contract {subject['contract']} v{subject['contract_version']}"
    if subject["kind"] == "task":
        return f"task {subject['task']}"
    return "free"


@admin.register(Debate)
class DebateAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "topic",
        "project",
        "subject",
        "status",
        "round",
        "participant_names",
        "awaiting",
        "escalated_at",
    )
    list_display_links = ("id", "topic")
    list_filter = ("status", "project")
    search_fields = ("topic",)
    list_select_related = ("project", "contract", "contract_version", "task")
    fields = (
        "id",
        "topic",
        "project",
        "subject",
        "status",
        "opened_by",
        "round",
        "round_deadline",
        "created_at",
        "closed_at",
        "history",
    )
    readonly_fields = fields
    change_form_template = "admin/debates/debate/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Debate]:
        # Annotated before the admin orders by it (the base class orders first).
        return selectors.by_urgency(Debate.objects.all())

    def get_ordering(self, request: HttpRequest) -> tuple[str, ...]:
        return ("urgency", "-id")

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        # The page's list shapes in three queries, rather than a few for every row.
        changelist = super().get_changelist_instance(request)
        page = list(changelist.result_list)
        for debate, brief in zip(page, selectors.briefs(page), strict=True):
            setattr(debate, _BRIEF_ATTR, brief)
        return changelist

    def _brief(self, debate: Debate) -> dict[str, Any]:
        brief = getattr(debate, _BRIEF_ATTR, None)
        return brief if brief is not None else selectors.briefs([debate])[0]

    @admin.display(description="subject")
    def subject(self, debate: Debate) -> str:
        return _subject(self._brief(debate)["subject"])

    @admin.display(description="opened by")
    def opened_by(self, debate: Debate) -> str:
        return debate.initiator_label

    @admin.display(description="round")
    def round(self, debate: Debate) -> str:
        return f"{debate.round_in_set} / {debate.max_rounds}"

    @admin.display(description="participants")
    def participant_names(self, debate: Debate) -> str:
        return ", ".join(self._brief(debate)["participants"])

    @admin.display(description="awaiting")
    def awaiting(self, debate: Debate) -> str:
        return ", ".join(self._brief(debate)["awaiting"]) or "-"

    @admin.display(description="events")
    def history(self, debate: Debate) -> str:
        return changelist_link(Event, "events of this debate", subject=f"debate:{debate.pk}")

    def has_decide_permission(self, request: HttpRequest) -> bool:
        """Staff with the debate's change permission (superusers have it). The services
        refuse anyone but staff anyway, so the forms are not offered to others."""
        user = request.user
        return bool(getattr(user, "is_staff", False)) and user.has_perm("debates.change_debate")

    def get_urls(self) -> list[URLPattern]:
        decide = self.admin_site.admin_view(require_POST(self.decide_view))
        own = [
            path("<path:object_id>/decide/<slug:decision>/", decide, name="debates_debate_decide")
        ]
        # Before the admin's own patterns, whose last one catches every path under an object.
        return [*own, *super().get_urls()]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context = dict(extra_context or {})
        debate = self.get_object(request, unquote(object_id))
        if debate is not None:
            context["page"] = debate_page(
                debate,
                may_decide=self.has_decide_permission(request),
                edit=request.GET.get("edit", ""),
            )
        return super().change_view(request, object_id, form_url, context)

    def decide_view(self, request: HttpRequest, object_id: str, decision: str) -> HttpResponse:
        """Apply one human decision through its service, then go back to the debate's page
        with what happened (or the service's reason for refusing, with nothing changed)."""
        chosen = DECISIONS.get(decision)
        if chosen is None:
            raise Http404(f"There is no decision {decision!r}; use one of {', '.join(DECISIONS)}.")
        if not self.has_decide_permission(request):
            raise PermissionDenied
        debate = self.get_object(request, unquote(object_id))
        if debate is None:
            raise Http404(f"There is no debate #{object_id}.")
        back = HttpResponseRedirect(reverse("admin:debates_debate_change", args=[debate.pk]))
        form = chosen(request.POST)
        if not form.is_valid():
            self.message_user(request, form.errors.as_text(), messages.ERROR)
            return back
        try:
            decided = form.decide(debate, actor_for(request))
        except PeerCodeError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return back
        self.message_user(request, form.report(decided), messages.SUCCESS)
        return back

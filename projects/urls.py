"""REST routes of the plan, mounted under /api/v1/.

Resources end with '/'; actions on them (claim, status, rotate, revoke, import, export,
decompose, versions) don't. Path segments only match what a name can be (see the converters),
so a malformed key or name is a JSON 404 before any view runs. Contract names may contain '/':
``contracts/<name>/`` shows one, ``contracts/<name>/versions`` publishes a version of it.
"""

from __future__ import annotations

from django.urls import path, register_converter

from peercode.api_views import MeView
from projects.api import contracts, events, members, plan, projects, tasks


class _NameConverter:
    regex = ""

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class TaskKeyConverter(_NameConverter):
    regex = r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}"  # TASK_KEY_VALIDATOR


class AgentNameConverter(_NameConverter):
    regex = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"  # AGENT_NAME_VALIDATOR


class ContractNameConverter(_NameConverter):
    regex = r"[A-Za-z0-9][A-Za-z0-9._:/ -]{0,119}"  # CONTRACT_NAME_VALIDATOR


register_converter(TaskKeyConverter, "task_key")
register_converter(AgentNameConverter, "agent_name")
register_converter(ContractNameConverter, "contract_name")

P = "projects/<slug:slug>/"

urlpatterns = [
    path("me", MeView.as_view(), name="api-me"),
    path("projects/", projects.ProjectListView.as_view(), name="api-projects"),
    path(P, projects.ProjectDetailView.as_view(), name="api-project"),
    path(P + "plan/", plan.PlanView.as_view(), name="api-plan"),
    path(P + "plan/import", plan.PlanImportView.as_view(), name="api-plan-import"),
    path(P + "plan/export", plan.PlanExportView.as_view(), name="api-plan-export"),
    path(P + "plan/decompose", plan.PlanDecomposeView.as_view(), name="api-plan-decompose"),
    path(P + "phases/", plan.PhaseListView.as_view(), name="api-phases"),
    path(P + "phases/<int:number>/", plan.PhaseDetailView.as_view(), name="api-phase"),
    path(P + "tasks/", tasks.TaskListView.as_view(), name="api-tasks"),
    path(P + "tasks/<task_key:key>/", tasks.TaskDetailView.as_view(), name="api-task"),
    path(P + "tasks/<task_key:key>/claim", tasks.TaskClaimView.as_view(), name="api-task-claim"),
    path(P + "tasks/<task_key:key>/status", tasks.TaskStatusView.as_view(), name="api-task-status"),
    path(P + "contracts/", contracts.ContractListView.as_view(), name="api-contracts"),
    # Before the detail route: a name may itself end in '/versions/' but never in '/versions'.
    path(
        P + "contracts/<contract_name:name>/versions",
        contracts.ContractVersionsView.as_view(),
        name="api-contract-versions",
    ),
    path(
        P + "contracts/<contract_name:name>/",
        contracts.ContractDetailView.as_view(),
        name="api-contract",
    ),
    path(P + "agents/", projects.AgentListView.as_view(), name="api-agents"),
    path(
        P + "agents/<agent_name:name>/rotate",
        projects.AgentRotateView.as_view(),
        name="api-agent-rotate",
    ),
    path(
        P + "agents/<agent_name:name>/revoke",
        projects.AgentRevokeView.as_view(),
        name="api-agent-revoke",
    ),
    path(P + "members/", members.MemberListView.as_view(), name="api-members"),
    path(
        P + "members/<str:username>/",
        members.MemberDetailView.as_view(),
        name="api-member",
    ),
    path(P + "events/", events.EventListView.as_view(), name="api-events"),
]

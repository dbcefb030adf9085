"""Every change to a project's plan and agents, one function per use case.

Each function validates its input, runs in one transaction, and records its event through
:func:`peercode.events.services.record_event` in that transaction. Callers (REST views, MCP
tools, management commands, the admin) never write these models themselves.
"""

from projects.services.contracts import add_contract, publish_contract_version
from projects.services.decomposition import decompose_project
from projects.services.members import remove_member, set_member_role
from projects.services.plan_import import (
    ImportResult,
    create_project_from_plan,
    export_plan,
    import_plan,
    read_plan,
)
from projects.services.projects import (
    create_agent,
    create_project,
    deactivate_agent,
    delete_project,
    rotate_agent_token,
    update_project,
)
from projects.services.tasks import (
    add_phase,
    add_task,
    change_task_status,
    claim_task,
    edit_task,
    update_phase,
    update_task,
)

__all__ = [
    "ImportResult",
    "add_contract",
    "add_phase",
    "add_task",
    "change_task_status",
    "claim_task",
    "create_agent",
    "create_project",
    "create_project_from_plan",
    "deactivate_agent",
    "decompose_project",
    "delete_project",
    "edit_task",
    "export_plan",
    "import_plan",
    "publish_contract_version",
    "read_plan",
    "remove_member",
    "rotate_agent_token",
    "set_member_role",
    "update_phase",
    "update_project",
    "update_task",
]

"""Every change to a project's plan and agents, one function per use case.

Each function validates its input, runs in one transaction, and records its event through
:func:`peercode.events.services.record_event` in that transaction. Callers (REST views, MCP
tools, management commands, the admin) never write these models themselves.
"""

from projects.services.contracts import add_contract, publish_contract_version
from projects.services.projects import (
    create_agent,
    create_project,
    deactivate_agent,
    rotate_agent_token,
    update_project,
)
from projects.services.tasks import (
    add_phase,
    add_task,
    change_task_status,
    claim_task,
    update_phase,
    update_task,
)

__all__ = [
    "add_contract",
    "add_phase",
    "add_task",
    "change_task_status",
    "claim_task",
    "create_agent",
    "create_project",
    "deactivate_agent",
    "publish_contract_version",
    "rotate_agent_token",
    "update_phase",
    "update_project",
    "update_task",
]

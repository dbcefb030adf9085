"""Contracts and their immutable, numbered versions.

Each function validates its input, runs in one transaction, and records its event through
:func:`peercode.events.services.record_event` in that transaction. Callers (REST views, MCP
tools, management commands, the admin) never write these models themselves.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Max

from peercode.actors import Actor
from peercode.errors import Conflict, PermissionDenied, ValidationFailed
from peercode.events.services import record_event
from peercode.permissions import Action, require
from peercode.validation import full_clean
from projects.models import (
    Agent,
    Contract,
    ContractKind,
    ContractVersion,
    Project,
)
from projects.services.tasks import tasks_by_key

# Contracts -------------------------------------------------------------------------------


def add_contract(
    *,
    project: Project,
    name: str,
    actor: Actor,
    kind: str = ContractKind.API,
    description: str = "",
    owner_task_key: str | None = None,
    spec: str | None = None,
    rationale: str = "",
) -> Contract:
    """Add a contract, optionally owned (provided) by a task and with a first version.

    Emits ``contract.added`` and, with a spec, ``contract.version_published``.
    """
    require(actor, Action.CHANGE_PLAN, project)
    with transaction.atomic():
        owner = None
        if owner_task_key:
            owner = tasks_by_key(project, [owner_task_key], what="owner_task")[0]
        contract = Contract(
            project=project, name=name, kind=kind, description=description, owner_task=owner
        )
        full_clean(contract, what="contract", exclude=["project", "owner_task"])
        if Contract.objects.filter(project=project, name=name).exists():
            raise Conflict(
                f"Project {project.slug!r} already has a contract {name!r}; publish a new "
                "version of it instead.",
                code="duplicate_contract",
            )
        contract.save()
        record_event(
            project=project,
            type="contract.added",
            actor=actor,
            subject=f"contract:{name}",
            payload={"kind": kind, "owner_task": owner_task_key},
        )
        if spec is not None:
            publish_contract_version(contract=contract, spec=spec, rationale=rationale, actor=actor)
    return contract


def publish_contract_version(
    *, contract: Contract, spec: str, actor: Actor, rationale: str = ""
) -> ContractVersion:
    """Publish the next numbered, immutable version of a contract.

    Numbers are 1, 2, 3 ... with no gap: the contract row is locked while the number is
    chosen, so concurrent publishers queue. Emits ``contract.version_published``.

    Only the contract's owner publishes: the agent assigned to the task that provides it, or a
    human lead. Everyone else proposes (a ``contract_change`` delta with a spec, or a debate).
    Callers outside the plan's own creation publish through ``deltas.services.push_delta``,
    which tells every consumer.
    """
    check_may_publish(actor, contract)
    if not spec or not spec.strip():
        raise ValidationFailed(
            f"The spec of contract {contract.name!r} cannot be empty; describe the interface.",
            code="empty_spec",
        )
    with transaction.atomic():
        Contract.objects.select_for_update().filter(pk=contract.pk).first()
        number = (contract.versions.aggregate(m=Max("number"))["m"] or 0) + 1
        version = ContractVersion.objects.create(
            contract=contract,
            number=number,
            spec=spec,
            rationale=rationale,
            author=actor.label,
            author_agent=actor.agent,
        )
        record_event(
            project=contract.project,
            type="contract.version_published",
            actor=actor,
            subject=f"contract:{contract.name}",
            payload={"version": number, "rationale": rationale},
        )
    return version


def owns_contract(agent: Agent | None, contract: Contract) -> bool:
    """Whether the agent holds the task that provides the contract."""
    owner = contract.owner_task
    return agent is not None and owner is not None and owner.assignee_id == agent.pk


def check_may_publish(actor: Actor, contract: Contract) -> None:
    if not actor.is_agent:
        require(actor, Action.PUBLISH_CONTRACT, contract.project)
        return
    actor.check_project(contract.project)
    if not owns_contract(actor.agent, contract):
        owner = contract.owner_task
        raise PermissionDenied(
            f"Only the agent holding {owner.key if owner else 'the task that provides it'} "
            f"publishes contract {contract.name!r}. Propose your change instead: push_delta "
            "with kind 'contract_change' and your spec (it reaches the owner as a proposal), or "
            "open_debate to negotiate it.",
            code="not_contract_owner",
        )

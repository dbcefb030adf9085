"""What the schemathesis run needs: the API schema loaded from the app, a project with a plan
to aim requests at, and callers of every kind.

The schema comes from the app itself (``/api/schema/`` through Django's WSGI handler, in
process), so the run checks what a client downloads, not a copy. Requests go through the same
handler, with the full middleware stack (sessions, CSRF, authentication, error pages).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.test import Client
from django.utils.crypto import get_random_string
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from debates.models import DebateStatus
from debates.services import open_debate, submit_turn
from deltas.services import push_delta
from locks.push.services import request_push
from locks.services import acquire_lock
from peercode.actors import Actor
from projects import services
from projects.models import Project
from projects.services.members import set_member_role
from projects.services.plan_import import export_plan
from tests.factories import SYSTEM, make_agent, make_contract, make_project, make_task

SCHEMA_PATH = "/api/schema/?format=json"

# Who calls: an agent of the project with its bearer token, a human member of each role (by
# session), and a Django staff user (every role everywhere).
AGENT = "agent"
STAFF = "staff"
ROLES = ("viewer", "lead", "admin")
CALLERS = (AGENT, *ROLES, STAFF)

# Server-side statuses an operation may document as a deliberate answer: 503 when a feature
# (web search, the planning model) is not configured here, 502 when its upstream API failed.
DELIBERATE_SERVER_STATUSES = frozenset({502, 503})


def no_undocumented_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """schemathesis' not_a_server_error, except for a 502 or 503 the operation documents: those
    say what to configure or retry, in the documented error shape (which the other checks
    verify). A 500 is never documented, so it always fails."""
    documented = case.operation.definition.raw.get("responses", {})
    if response.status_code in DELIBERATE_SERVER_STATUSES and str(response.status_code) in (
        documented
    ):
        return None
    return not_a_server_error(ctx, response, case)


# What every response must satisfy. Each one documents a promise a client relies on.
CHECKS = [
    no_undocumented_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def load_api_schema() -> Any:
    """The OpenAPI schema as the app serves it, bound to the app for in-process calls."""
    return schemathesis.openapi.from_wsgi(SCHEMA_PATH, WSGIHandler())


@dataclass
class Plan:
    """The seeded project: what path parameters can name so requests reach real rows."""

    project: Project
    other: Project
    token: str
    tasks: list[str]
    contracts: list[str]
    agents: list[str]
    phases: list[int]
    debates: list[int]
    locks: list[int]
    tickets: list[int]
    fencing_token: int
    plan_document: dict[str, Any]
    humans: dict[str, Any] = field(default_factory=dict)


def seed_plan() -> Plan:
    """A project mid-flight: two phases, tasks with dependencies, a contract with two versions
    and one with none, three agents, a lock and a request waiting behind it, a push line, a
    delta, an open debate and an escalated one; and a second project nobody here belongs to."""
    project = make_project(slug="shop", name="Shop")
    # One round per debate: a round without consensus escalates at once.
    project = services.update_project(project=project, actor=SYSTEM, max_debate_rounds=1)
    ann, token = make_agent(project, "ann")
    bob, _ = make_agent(project, "bob")
    cat, _ = make_agent(project, "cat")
    make_task(project, "T-1", phase=1, file_globs=["src/auth/**"])
    make_contract(project, "auth-api", owner="T-1", spec="POST /login -> {token}")
    services.publish_contract_version(
        contract=project.contracts.get(name="auth-api"),
        spec="POST /login -> {token, expires_at}",
        actor=SYSTEM,
    )
    make_contract(project, "billing-api", spec=None)
    make_task(project, "T-2", phase=1, depends_on=["T-1"], consumes=["auth-api"])
    make_task(project, "T-3", phase=2, depends_on=["T-2"], file_globs=["src/shop/**"])
    make_task(project, "T-4", phase=2, file_globs=["docs/**"])
    services.claim_task(agent=ann, task_key="T-1")

    held = acquire_lock(agent=ann, path="src/auth/login.py", task_key="T-1").lock
    waiting = acquire_lock(agent=bob, path="src/auth/login.py", wait=True).lock
    first = request_push(agent=ann).ticket
    second = request_push(agent=bob).ticket
    push_delta(
        project=project,
        actor=Actor.for_agent(ann),
        kind="decision",
        summary="Sessions live in Redis",
        tasks=["T-1"],
        contracts=["auth-api"],
    )
    open_one = open_debate(
        project=project,
        actor=Actor.for_agent(ann),
        topic="Token format",
        participants=["bob"],
        proposal="Opaque session ids",
    )
    escalated = open_debate(
        project=project,
        actor=Actor.for_agent(ann),
        topic="Session store",
        participants=["bob"],
        proposal="Redis",
    )
    for agent, turn in ((ann, {"supports": "P1"}), (bob, {"proposal": "PostgreSQL"})):
        submit_turn(
            agent=agent,
            debate_id=escalated.pk,
            client_key=f"{agent.name}-1",
            kind="support" if "supports" in turn else "propose",
            rationale=f"{agent.name} has reasons",
            **turn,
        )
    escalated.refresh_from_db()
    assert escalated.status == DebateStatus.ESCALATED, escalated.status

    other = make_project(slug="elsewhere", name="Elsewhere")
    make_agent(other, "ann")
    make_task(other, "E-1")

    plan = Plan(
        project=project,
        other=other,
        token=token,
        tasks=["T-1", "T-2", "T-3", "T-4"],
        contracts=["auth-api", "billing-api"],
        agents=[ann.name, bob.name, cat.name],
        phases=[1, 2],
        debates=[open_one.pk, escalated.pk],
        locks=[held.pk, waiting.pk],
        tickets=[first.pk, second.pk],
        fencing_token=first.fencing_token or 0,
        plan_document=export_plan(project),
    )
    user_model = get_user_model()
    for role in ROLES:
        user = user_model.objects.create_user(username=f"{role}-human", password=None)
        set_member_role(project=project, user=user, role=role, actor=SYSTEM)
        plan.humans[role] = user
    plan.humans[STAFF] = user_model.objects.create_user(
        username="staff-human", password=None, is_staff=True
    )
    user_model.objects.create_user(username="newcomer", password=None)
    return plan


@dataclass(frozen=True)
class Credentials:
    """What a caller adds to every request: a bearer token, or a session and CSRF pair."""

    headers: dict[str, str]
    cookies: dict[str, str]


def credentials_for(caller: str, plan: Plan) -> Credentials:
    if caller == AGENT:
        return Credentials(headers={"Authorization": f"Bearer {plan.token}"}, cookies={})
    browser = Client()
    browser.force_login(plan.humans[caller])
    session = browser.cookies[settings.SESSION_COOKIE_NAME].value
    # Django compares the CSRF cookie with the header on unsafe methods, as a browser's
    # JavaScript would send them; the cookie may be any secret of the right shape.
    csrf = get_random_string(32)
    return Credentials(
        headers={"X-CSRFToken": csrf},
        cookies={settings.SESSION_COOKIE_NAME: session, settings.CSRF_COOKIE_NAME: csrf},
    )


def path_choices(path: str, name: str, plan: Plan) -> Sequence[Any]:
    """Real values for a path parameter, so that most requests reach rows that exist."""
    if name == "slug":
        # Mostly the caller's project; now and then one it has no access to.
        return [plan.project.slug, plan.project.slug, plan.other.slug]
    if name == "name":
        return plan.agents if "/agents/" in path else plan.contracts
    if name == "username":
        return [user.get_username() for user in plan.humans.values()]
    by_name: dict[str, Sequence[Any]] = {
        "key": plan.tasks,
        "number": plan.phases,
        "debate_id": plan.debates,
        "lock_id": plan.locks,
        "ticket_id": plan.tickets,
    }
    return by_name.get(name, [])


GENERATED = object()


def path_overrides(operation: Any, plan: Plan) -> st.SearchStrategy[dict[str, Any]]:
    """For each path parameter, a seeded value or (now and then) the generated one."""
    strategies = {}
    for parameter in operation.path_parameters:
        choices = list(path_choices(operation.path, parameter.name, plan))
        strategies[parameter.name] = st.sampled_from([*choices, GENERATED])
    return st.fixed_dictionaries(strategies)


def with_caller(case: Any, overrides: dict[str, Any], credentials: Credentials) -> Any:
    """The generated case, aimed at seeded rows, carrying only this caller's credentials.

    Schemathesis fills in the schema's security schemes with made-up values (a random bearer
    token, a random session cookie); those would make every request a 401 and hide what the
    caller can really reach."""
    for name, value in overrides.items():
        if value is not GENERATED:
            case.path_parameters[name] = value
    if case.headers:
        for name in [key for key in case.headers if key.lower() == "authorization"]:
            del case.headers[name]
    if case.cookies:
        for name in (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME):
            case.cookies.pop(name, None)
    return case


@contextmanager
def django_in_process() -> Iterator[None]:
    """Let in-process requests share the test's transaction.

    Django closes the database connection at the end of each request (close_old_connections);
    inside a test transaction that would roll it back. Django's own test client disconnects
    it the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def send_and_check(case: Any, credentials: Credentials) -> None:
    """Send the case as the caller and run every check, in a savepoint rolled back afterwards
    so that the next request finds the seeded project as it was. (A 500's traceback is in the
    captured log: the API's exception handler and Django's both log it.)"""
    with transaction.atomic():
        try:
            case.call_and_validate(
                headers=credentials.headers, cookies=credentials.cookies, checks=CHECKS
            )
        finally:
            transaction.set_rollback(True)


def known_good_requests(plan: Plan) -> dict[str, list[dict[str, Any]]]:
    """For each operation that takes input, requests that succeed for a caller allowed to make
    them, so that the success responses (not only the refusals random input gets) are checked
    against the schema. Keyed by operation label; each is the keyword arguments of Case()."""
    ann_held, bob_waiting = plan.locks
    open_debate_id, escalated_id = plan.debates
    first_ticket, second_ticket = plan.tickets
    shop = {"slug": plan.project.slug}
    base = "/api/v1/projects"
    return {
        f"POST {base}/": [{"body": {"slug": "garden", "name": "Garden", "max_debate_rounds": 3}}],
        f"PATCH {base}/{{slug}}/": [
            {"path_parameters": shop, "body": {"description": "Sell things", "name": "Shop 2"}}
        ],
        f"POST {base}/{{slug}}/agents/": [
            {"path_parameters": shop, "body": {"name": "dan", "client_kind": "cursor"}}
        ],
        f"POST {base}/{{slug}}/agents/{{name}}/revoke": [
            {"path_parameters": {**shop, "name": "cat"}}
        ],
        f"POST {base}/{{slug}}/agents/{{name}}/rotate": [
            {"path_parameters": {**shop, "name": "cat"}}
        ],
        f"POST {base}/{{slug}}/contracts/": [
            {
                "path_parameters": shop,
                "body": {"name": "cart-api", "owner_task": "T-3", "spec": "GET /cart -> {items}"},
            },
            {"path_parameters": shop, "body": {"name": "search-api"}},
        ],
        f"POST {base}/{{slug}}/contracts/{{name}}/versions": [
            {
                "path_parameters": {**shop, "name": "auth-api"},
                "body": {"spec": "POST /login -> {token, expires_at, refresh}", "rationale": "r"},
            },
            {"path_parameters": {**shop, "name": "billing-api"}, "body": {"spec": "POST /pay"}},
        ],
        f"GET {base}/{{slug}}/debates/": [
            {"path_parameters": shop, "query": {"status": "escalated"}}
        ],
        f"POST {base}/{{slug}}/debates/": [
            {
                "path_parameters": shop,
                "body": {"topic": "Cart store", "participants": ["bob"], "proposal": "Redis"},
            },
            {
                "path_parameters": shop,
                "body": {
                    "topic": "Login contract",
                    "participants": ["ann", "bob"],
                    "subject": "contract",
                    "contract": "auth-api",
                },
            },
        ],
        f"POST {base}/{{slug}}/debates/{{debate_id}}/decide": [
            {
                "path_parameters": {**shop, "debate_id": escalated_id},
                "body": {"action": "accept", "proposal": "P2", "reason": "Fewer moving parts"},
            },
            {
                "path_parameters": {**shop, "debate_id": escalated_id},
                "body": {"action": "return", "guidance": "Measure both first"},
            },
        ],
        f"POST {base}/{{slug}}/debates/{{debate_id}}/turns": [
            {
                "path_parameters": {**shop, "debate_id": open_debate_id},
                "body": {
                    "client_key": "ann-1",
                    "kind": "support",
                    "supports": "P1",
                    "rationale": "Opaque ids revoke at once",
                },
            }
        ],
        f"POST {base}/{{slug}}/debates/{{debate_id}}/withdraw": [
            {"path_parameters": {**shop, "debate_id": open_debate_id}, "body": {"reason": "Moot"}}
        ],
        f"GET {base}/{{slug}}/deltas/": [{"path_parameters": shop, "query": {"since": 0}}],
        f"POST {base}/{{slug}}/deltas/": [
            {
                "path_parameters": shop,
                "body": {
                    "kind": "decision",
                    "summary": "Times are UTC",
                    "significance": "breaking",
                    "tasks": ["T-1"],
                    "contracts": ["auth-api"],
                    "paths": ["src/auth/login.py"],
                },
            }
        ],
        f"POST {base}/{{slug}}/deltas/ack": [{"path_parameters": shop, "body": {"seq": 1}}],
        f"POST {base}/{{slug}}/locks/": [
            {"path_parameters": shop, "body": {"path": "src/auth/session.py", "task": "T-1"}},
            {"path_parameters": shop, "body": {"path": "src/auth/login.py", "wait": True}},
            {
                "path_parameters": shop,
                "body": {
                    "path": "src/shop/cart.py",
                    "scope": "lines",
                    "start_line": 1,
                    "end_line": 9,
                    "mode": "shared",
                    "ttl_seconds": 600,
                },
            },
        ],
        f"POST {base}/{{slug}}/locks/check": [
            {"path_parameters": shop, "body": {"locks": [{"path": "src/auth/login.py"}]}}
        ],
        f"POST {base}/{{slug}}/locks/{{lock_id}}/renew": [
            {"path_parameters": {**shop, "lock_id": ann_held}, "body": {"ttl_seconds": 600}}
        ],
        f"POST {base}/{{slug}}/locks/{{lock_id}}/release": [
            {"path_parameters": {**shop, "lock_id": ann_held}},
            {"path_parameters": {**shop, "lock_id": bob_waiting}},
        ],
        f"POST {base}/{{slug}}/members/": [
            {"path_parameters": shop, "body": {"user": "newcomer", "role": "viewer"}}
        ],
        f"PATCH {base}/{{slug}}/members/{{username}}/": [
            {"path_parameters": {**shop, "username": "viewer-human"}, "body": {"role": "lead"}}
        ],
        f"DELETE {base}/{{slug}}/members/{{username}}/": [
            {"path_parameters": {**shop, "username": "viewer-human"}}
        ],
        f"POST {base}/{{slug}}/phases/": [
            {"path_parameters": shop, "body": {"name": "Launch", "description": "Go live"}}
        ],
        f"PATCH {base}/{{slug}}/phases/{{number}}/": [
            {"path_parameters": {**shop, "number": 1}, "body": {"name": "Foundations"}}
        ],
        f"POST {base}/{{slug}}/plan/decompose": [
            {"path_parameters": shop, "body": {"description": "An online shop", "replace": True}}
        ],
        f"POST {base}/{{slug}}/plan/import": [
            {
                "path_parameters": {"slug": plan.other.slug},
                "body": plan.plan_document,
                "query": {"replace": "true"},
            },
            {"path_parameters": shop, "body": plan.plan_document},
        ],
        f"POST {base}/{{slug}}/push/": [
            {"path_parameters": shop, "body": {"paths": ["src/auth/login.py"]}}
        ],
        f"POST {base}/{{slug}}/push/{{ticket_id}}/complete": [
            {
                "path_parameters": {**shop, "ticket_id": first_ticket},
                "body": {"commit_sha": "a" * 40, "fencing_token": plan.fencing_token},
            }
        ],
        f"POST {base}/{{slug}}/push/{{ticket_id}}/abandon": [
            {"path_parameters": {**shop, "ticket_id": second_ticket}}
        ],
        f"POST {base}/{{slug}}/search": [
            {"path_parameters": shop, "body": {"query": "redis session store"}}
        ],
        f"GET {base}/{{slug}}/tasks/": [
            {"path_parameters": shop, "query": {"status": "ready", "phase": 2}}
        ],
        f"POST {base}/{{slug}}/tasks/": [
            {
                "path_parameters": shop,
                "body": {
                    "key": "T-5",
                    "title": "Checkout",
                    "phase": 2,
                    "depends_on": ["T-3"],
                    "consumes": ["auth-api"],
                    "file_globs": ["src/checkout/**"],
                    "estimate": 3,
                },
            }
        ],
        f"PATCH {base}/{{slug}}/tasks/{{key}}/": [
            {"path_parameters": {**shop, "key": "T-1"}, "body": {"title": "Login", "estimate": 2}}
        ],
        f"POST {base}/{{slug}}/tasks/{{key}}/claim": [{"path_parameters": {**shop, "key": "T-4"}}],
        f"POST {base}/{{slug}}/tasks/{{key}}/status": [
            {"path_parameters": {**shop, "key": "T-1"}, "body": {"status": "review"}},
            {"path_parameters": {**shop, "key": "T-1"}, "body": {"status": "done"}},
        ],
    }


def explicit_cases(operation: Any, plan: Plan) -> list[Any]:
    """The known-good requests for this operation, or one that names seeded rows."""
    wanted = known_good_requests(plan).get(operation.label)
    if wanted is None:
        wanted = [
            {
                "path_parameters": {
                    parameter.name: path_choices(operation.path, parameter.name, plan)[0]
                    for parameter in operation.path_parameters
                }
            }
        ]
    cases = []
    for fields in wanted:
        if "body" in fields:
            fields = {**fields, "media_type": "application/json"}
        cases.append(operation.Case(**fields))
    return cases

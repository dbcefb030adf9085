"""Lock services: grants and refusals, bad input, the dry run, the coupling guard, and
PostgreSQL's exclusion constraints.

Time is controlled by the ``clock`` fixture (``conftest.py``), which replaces
``django.utils.timezone.now`` (the clock the services, selectors and the event log read) with one
that moves only when a test says so (and by one microsecond per reading, so that events keep
their order).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from deltas.models import DeltaKind
from locks import selectors, services
from locks.models import Lock, LockStatus
from locks.services import LockConflict
from peercode.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from peercode.events.models import Event
from projects.models import Agent, CouplingGuard, Project
from projects.services import deactivate_agent
from tests.conftest import requires_postgresql
from tests.deltas.factories import agent_on, push, set_coupling_guard
from tests.factories import SYSTEM, make_agent, make_contract, make_project, make_task
from tests.locks.push_support import Clock
from tests.locks.services_support import PATH, acquire, events, lines, me, status_of

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------------------------------------
# Granting and refusing


class TestAcquire:
    def test_a_free_file_is_granted_with_a_token_and_a_lease(
        self, project: Project, ann: Agent, clock: Clock
    ) -> None:
        result = acquire(ann, reason="refactor login", ttl_seconds=60)
        lock = result.lock
        assert result.granted
        assert result.position is None
        assert result.warnings == []
        assert lock.status == LockStatus.HELD
        assert lock.fencing_token == 1
        assert lock.granted_at is not None
        assert lock.expires_at == lock.granted_at + timedelta(seconds=60)
        assert lock.reason == "refactor login"
        assert [lock.pk for lock in selectors.live_locks(project)] == [lock.pk]

    def test_the_project_default_ttl_applies_when_none_is_asked(
        self, project: Project, ann: Agent
    ) -> None:
        lock = acquire(ann).lock
        assert lock.ttl_seconds == project.default_lock_ttl_seconds == 900

    def test_second_exclusive_lock_on_overlapping_lines_is_refused_naming_the_holder(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        held = lines(ann, 10, 20).lock
        before = Lock.objects.count()
        with pytest.raises(LockConflict) as excinfo:
            lines(bob, 20, 30)
        error = excinfo.value
        assert error.code == "lock_conflict"
        assert error.http_status == 409
        assert "ann" in error.message
        assert f"{PATH} lines 10-20" in error.message
        assert "exclusive" in error.message
        assert held.expires_at is not None
        assert held.expires_at.isoformat() in error.message
        assert f"token {held.fencing_token}" in error.message
        assert "wait=true" in error.message
        [described] = error.details["conflicts"]
        assert described["id"] == held.pk
        assert described["holder"] == "ann"
        assert (described["start_line"], described["end_line"]) == (10, 20)
        assert Lock.objects.count() == before

    def test_a_refusal_is_recorded_in_the_log_with_the_conflict(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        held = acquire(ann).lock
        with pytest.raises(LockConflict):
            lines(bob, 1, 2, mode="shared")
        [refused] = events(project, "lock.refused")
        assert refused.actor == "agent:bob"
        assert refused.payload["path"] == PATH
        assert refused.payload["scope"] == "lines"
        assert refused.payload["mode"] == "shared"
        assert refused.payload["holder"] == "bob"
        assert [c["id"] for c in refused.payload["conflicts"]] == [held.pk]

    def test_lines_that_do_not_intersect_are_both_granted(self, ann: Agent, bob: Agent) -> None:
        assert lines(ann, 1, 10).granted
        assert lines(bob, 11, 20).granted

    def test_shared_locks_coexist_and_exclude_an_exclusive_one(
        self, ann: Agent, bob: Agent, cat: Agent
    ) -> None:
        assert acquire(ann, mode="shared").granted
        assert acquire(bob, mode="shared").granted
        with pytest.raises(LockConflict) as excinfo:
            lines(cat, 1, 1)
        assert {c["holder"] for c in excinfo.value.details["conflicts"]} == {"ann", "bob"}

    def test_the_same_agent_may_hold_overlapping_locks(self, ann: Agent) -> None:
        assert acquire(ann).granted
        assert lines(ann, 1, 5).granted
        assert acquire(ann, scope="section", section="Auth").granted

    def test_other_paths_are_free(self, ann: Agent, bob: Agent) -> None:
        acquire(ann)
        assert acquire(bob, "src/other.py").granted

    def test_a_section_lock_conflicts_with_a_member_of_it(self, ann: Agent, bob: Agent) -> None:
        acquire(ann, scope="section", section="AuthService")
        with pytest.raises(LockConflict):
            acquire(bob, scope="section", section="AuthService.login")

    def test_backslashes_are_read_as_forward_slashes(self, ann: Agent, bob: Agent) -> None:
        assert acquire(ann, "src\\auth.py").lock.path == PATH
        with pytest.raises(LockConflict):
            acquire(bob, PATH)

    def test_locks_of_another_project_never_conflict(self, ann: Agent) -> None:
        acquire(ann)
        stranger, _ = make_agent(make_project(), "ann")
        assert acquire(stranger).granted

    def test_a_revoked_agent_cannot_take_locks(self, ann: Agent) -> None:
        deactivate_agent(agent=ann, actor=SYSTEM)
        ann.refresh_from_db()
        with pytest.raises(PermissionDenied) as excinfo:
            acquire(ann)
        assert excinfo.value.code == "agent_revoked"

    def test_a_task_key_ties_the_lock_to_a_task(self, project: Project, ann: Agent) -> None:
        make_task(project, "P1-T1")
        lock = acquire(ann, task_key="P1-T1").lock
        assert lock.task is not None
        assert lock.task.key == "P1-T1"
        assert selectors.as_dict(lock)["task"] == "P1-T1"

    def test_an_unknown_task_key_is_refused_by_name(self, project: Project, ann: Agent) -> None:
        make_task(make_project(), "ELSEWHERE")
        for key in ("NOPE", "ELSEWHERE"):
            with pytest.raises(ValidationFailed) as excinfo:
                acquire(ann, task_key=key)
            assert excinfo.value.code == "unknown_task"
            assert repr(key) in excinfo.value.message
        assert not Lock.objects.exists()


class TestBadInput:
    @pytest.mark.parametrize(
        "path", ["/etc/passwd", "../x.py", "src/../../x.py", "", "a\x00b", "x" * 1001, "src/"]
    )
    def test_bad_paths_are_refused_and_nothing_is_written(self, ann: Agent, path: str) -> None:
        before = Event.objects.count()
        with pytest.raises(ValidationFailed) as excinfo:
            acquire(ann, path)
        assert excinfo.value.code in {"bad_path", "path_too_long"}
        assert not Lock.objects.exists()
        assert Event.objects.count() == before

    @pytest.mark.parametrize(
        ("start", "end"), [(5, 3), (0, 4), (0, 0), (-1, 2), (3, None), (None, 3), (None, None)]
    )
    def test_inverted_zero_and_partial_ranges_are_refused(
        self, ann: Agent, start: int | None, end: int | None
    ) -> None:
        with pytest.raises(ValidationFailed) as excinfo:
            acquire(ann, scope="lines", start_line=start, end_line=end)
        assert excinfo.value.code == "bad_range"
        assert not Lock.objects.exists()

    def test_unknown_scope_and_mode_are_refused(self, ann: Agent) -> None:
        with pytest.raises(ValidationFailed, match="Unknown scope"):
            acquire(ann, scope="directory")
        with pytest.raises(ValidationFailed, match="Unknown mode"):
            acquire(ann, mode="write")

    @pytest.mark.parametrize("ttl", [0, 9, 3601, -5])
    def test_ttl_out_of_bounds_is_refused_with_the_bounds(self, ann: Agent, ttl: int) -> None:
        with pytest.raises(ValidationFailed) as excinfo:
            acquire(ann, ttl_seconds=ttl)
        assert excinfo.value.code == "ttl_out_of_bounds"
        assert excinfo.value.details == {"min": 10, "max": 3600}
        assert "10 to 3600 seconds" in excinfo.value.message

    @pytest.mark.parametrize("ttl", ["60", 60.0, True])
    def test_a_ttl_that_is_not_a_whole_number_is_refused(self, ann: Agent, ttl: object) -> None:
        with pytest.raises(ValidationFailed) as excinfo:
            acquire(ann, ttl_seconds=ttl)
        assert excinfo.value.code == "bad_ttl"

    def test_the_ttl_bounds_themselves_are_accepted(self, ann: Agent) -> None:
        assert acquire(ann, "a.py", ttl_seconds=10).lock.ttl_seconds == 10
        assert acquire(ann, "b.py", ttl_seconds=3600).lock.ttl_seconds == 3600

    def test_an_overlong_reason_is_refused(self, ann: Agent) -> None:
        with pytest.raises(ValidationFailed, match="500"):
            acquire(ann, reason="x" * 501)

    def test_unknown_lock_ids_are_not_found(self, ann: Agent) -> None:
        for call in (services.renew_lock, services.release_lock):
            with pytest.raises(NotFound) as excinfo:
                call(actor=me(ann), lock_id=999_999)
            assert excinfo.value.code == "unknown_lock"
            assert "list_locks" in excinfo.value.message

    @pytest.mark.parametrize("lock_id", [0, -1, "7", None, True])
    def test_malformed_lock_ids_are_refused(self, ann: Agent, lock_id: object) -> None:
        with pytest.raises(ValidationFailed) as excinfo:
            services.release_lock(actor=me(ann), lock_id=lock_id)  # type: ignore[arg-type]
        assert excinfo.value.code == "bad_lock_id"

    def test_an_agent_cannot_reach_a_lock_of_another_project(self, ann: Agent) -> None:
        stranger, _ = make_agent(make_project(), "mallory")
        lock = acquire(ann).lock
        with pytest.raises(NotFound):
            services.release_lock(actor=me(stranger), lock_id=lock.pk)
        assert status_of(lock) == LockStatus.HELD


# ---------------------------------------------------------------------------------------------
# Dry run and coupling guard


class TestCheckConflicts:
    def test_it_says_who_is_in_the_way_and_writes_nothing(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        held = lines(ann, 1, 10).lock
        locks_before, events_before = Lock.objects.count(), Event.objects.count()
        answers = services.check_conflicts(
            agent=bob,
            specs=[
                {"path": PATH, "scope": "lines", "start_line": 5, "end_line": 6},
                {"path": PATH, "scope": "lines", "start_line": 11, "end_line": 12},
                {"path": "./other.py"},
            ],
        )
        assert [answer["free"] for answer in answers] == [False, True, True]
        assert [c["id"] for c in answers[0]["conflicts"]] == [held.pk]
        assert answers[2]["path"] == "other.py"
        assert (Lock.objects.count(), Event.objects.count()) == (locks_before, events_before)

    def test_ones_own_locks_are_never_in_the_way(self, ann: Agent) -> None:
        acquire(ann)
        [answer] = services.check_conflicts(agent=ann, specs=[{"path": PATH}])
        assert answer["free"]

    @pytest.mark.parametrize(
        ("specs", "says"),
        [
            ([], "1 to 100"),
            ([{"path": "a.py"}] * 101, "1 to 100"),
            ("a.py", "must be a list"),
            ([{"path": "a.py"}, {"path": "/abs"}], "specs[1]: path '/abs' is absolute"),
            ([{"path": "a.py", "colour": "red"}], "unknown field(s) colour"),
            (["a.py"], "specs[0] must be an object"),
        ],
    )
    def test_bad_specs_are_refused_naming_the_one_at_fault(
        self, ann: Agent, specs: Any, says: str
    ) -> None:
        with pytest.raises(ValidationFailed) as excinfo:
            services.check_conflicts(agent=ann, specs=specs)
        assert says in excinfo.value.message


class TestCouplingGuard:
    @pytest.fixture
    def consumer(self, project: Project) -> Agent:
        owner, _ = agent_on(project, "PROVIDE", name="owner")
        make_contract(project, "AuthAPI", owner="PROVIDE", spec="POST /login")
        consumer, _ = agent_on(project, "USE", name="consumer", consumes=["AuthAPI"])
        push(
            project,
            owner,
            kind=DeltaKind.CONTRACT_CHANGE,
            summary="login returns a refresh token",
            contracts=["AuthAPI"],
            spec="POST /login -> refresh",
        )
        return consumer

    def test_warn_mode_grants_and_returns_the_warning(
        self, project: Project, consumer: Agent
    ) -> None:
        result = acquire(consumer)
        assert result.granted
        [warning] = result.warnings
        assert "login returns a refresh token" in warning

    def test_refuse_mode_refuses_before_anything_is_written(
        self, project: Project, consumer: Agent
    ) -> None:
        set_coupling_guard(project, CouplingGuard.REFUSE)
        consumer = Agent.objects.select_related("project").get(pk=consumer.pk)
        before = Event.objects.count()
        with pytest.raises(Conflict) as excinfo:
            acquire(consumer)
        assert excinfo.value.code == "unacknowledged_breaking_change"
        assert excinfo.value.message.startswith("Refused to acquire a lock")
        assert not Lock.objects.exists()
        assert Event.objects.count() == before

    def test_the_task_being_locked_for_is_checked_too(self, project: Project) -> None:
        make_contract(project, "Billing", spec="GET /invoices")
        owner, _ = agent_on(project, "BILL", name="biller")
        push(
            project,
            SYSTEM,
            kind=DeltaKind.CONTRACT_CHANGE,
            summary="invoices are paged",
            contracts=["Billing"],
            spec="GET /invoices?page",
        )
        make_task(project, "NEXT", consumes=["Billing"])
        bystander, _ = make_agent(project, "bystander")
        assert acquire(bystander, "a.py").warnings == []
        [warning] = acquire(bystander, "b.py", task_key="NEXT").warnings
        assert "invoices are paged" in warning
        assert owner.pk != bystander.pk


# ---------------------------------------------------------------------------------------------
# PostgreSQL's second line of defence


@requires_postgresql
def test_postgresql_refuses_conflicting_held_rows_written_behind_the_services_back(
    project: Project, ann: Agent, bob: Agent, cat: Agent
) -> None:
    lines(ann, 1, 10)
    now = timezone.now()
    row = {
        "project": project,
        "path": PATH,
        "status": LockStatus.HELD,
        "ttl_seconds": 60,
        "requested_at": now,
        "granted_at": now,
        "expires_at": now + timedelta(seconds=60),
    }
    refused: list[dict[str, Any]] = [
        {"scope": "lines", "start_line": 10, "end_line": 12, "mode": "exclusive"},
        {"scope": "lines", "start_line": 5, "end_line": 5, "mode": "shared"},
        {"scope": "file", "mode": "exclusive"},
        {"scope": "section", "section": "X", "start_line": 2, "end_line": 3, "mode": "shared"},
    ]
    for fields in refused:
        with pytest.raises(IntegrityError), transaction.atomic():
            Lock.objects.create(holder=bob, **fields, **row)
    # What the rule allows, the constraint allows too.
    allowed: list[dict[str, Any]] = [
        {"holder": ann, "scope": "lines", "start_line": 5, "end_line": 6},
        {"holder": bob, "scope": "lines", "start_line": 11, "end_line": 20},
        {"holder": bob, "scope": "section", "section": "Other"},
        {"holder": bob, "scope": "file", "mode": "shared", "path": "x.py"},
        {"holder": cat, "scope": "file", "mode": "shared", "path": "x.py"},
    ]
    for fields in allowed:
        Lock.objects.create(**{**row, **fields})
    assert Lock.objects.filter(status=LockStatus.HELD).count() == 6

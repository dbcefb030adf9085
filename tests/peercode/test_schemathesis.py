"""Every REST operation, fuzzed from the OpenAPI schema the app serves, answers as documented.

For each operation and each kind of caller (an agent of the project, a human viewer, lead and
admin of it, and a Django staff user), schemathesis generates requests, valid and invalid,
aimed mostly at rows of a seeded project, and checks each response: never a server error, a
documented status code, content type and headers, and a body that matches the schema.

Each request runs in a savepoint rolled back afterwards, so every example starts from the same
seeded project and a failure replays exactly (the examples are derandomized).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.peercode.schemathesis_support import (
    AGENT,
    CALLERS,
    STAFF,
    Plan,
    credentials_for,
    django_in_process,
    explicit_cases,
    known_good_requests,
    load_api_schema,
    path_overrides,
    seed_plan,
    send_and_check,
    with_caller,
)

SCHEMA = load_api_schema()
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]

# Generated examples per operation and caller. Small on purpose: the suite runs this for 5
# callers x every operation on SQLite and again on PostgreSQL. Set
# PEERCODE_SCHEMATHESIS_EXAMPLES=200 for a deep run when changing the API.
EXAMPLES = int(os.environ.get("PEERCODE_SCHEMATHESIS_EXAMPLES", "") or 8)

RUN_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    # No shrinking: a failure is reported as found (with its curl command), which keeps a
    # failing run as short as a passing one.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def plan(django_db_setup: None, django_db_blocker: Any) -> Iterator[Plan]:
    """One seeded project for the whole module (seeding it per test would take most of the
    run), in a transaction rolled back at the end; each test, and each request in it, runs in
    a savepoint inside it."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield seed_plan()
        transaction.set_rollback(True)


@pytest.fixture(autouse=True)
def no_outside_world(settings: Any) -> None:
    """No request may reach a paid API, or be refused by a rate limit the run itself trips."""
    settings.ANTHROPIC_API_KEY = ""
    settings.PEERCODE_SEARCH_PROVIDER = ""
    settings.PEERCODE_RATE_LIMITS = dict.fromkeys(settings.PEERCODE_RATE_LIMITS)


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.label)
def test_every_response_is_documented_and_no_request_makes_a_server_error(
    operation: Any, caller: str, plan: Plan, db: None
) -> None:
    credentials = credentials_for(caller, plan)
    strategy = st.tuples(
        st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        ),
        path_overrides(operation, plan),
    )

    @RUN_SETTINGS
    @given(strategy)
    def generated(drawn: tuple[Any, dict[str, Any]]) -> None:
        case, overrides = drawn
        send_and_check(with_caller(case, overrides, credentials), credentials)

    with django_in_process():
        # First requests that succeed for a caller allowed to make them, so that success
        # responses are checked too; then generated ones, valid and invalid.
        for case in explicit_cases(operation, plan):
            send_and_check(case, credentials)
        generated()


# The run above would pass vacuously if its callers were not recognised (401 is a documented
# answer everywhere); these make sure each caller reaches the API as itself.


@pytest.mark.parametrize("caller", CALLERS)
def test_each_caller_of_the_run_reaches_the_api_as_itself(
    caller: str, plan: Plan, db: None
) -> None:
    credentials = credentials_for(caller, plan)
    with django_in_process():
        response = (
            SCHEMA["/api/v1/me"]["GET"]
            .Case()
            .call(headers=credentials.headers, cookies=credentials.cookies)
        )
    assert response.status_code == 200, response.text
    me = response.json()
    if caller == AGENT:
        assert (me["kind"], me["name"], me["project"]["slug"]) == ("agent", "ann", "shop")
    else:
        assert (me["kind"], me["name"]) == ("user", plan.humans[caller].get_username())


def test_a_human_of_the_run_passes_the_csrf_check_on_unsafe_requests(plan: Plan, db: None) -> None:
    credentials = credentials_for(STAFF, plan)
    create = SCHEMA["/api/v1/projects/"]["POST"].Case(
        body={"slug": "garden", "name": "Garden"}, media_type="application/json"
    )
    with django_in_process():
        response = create.call(headers=credentials.headers, cookies=credentials.cookies)
        assert response.status_code == 201, response.text
        without_token = create.call(cookies=credentials.cookies)
    assert without_token.status_code == 403
    assert "CSRF" in without_token.json()["error"]["message"]


def test_the_known_good_requests_name_operations_of_the_schema(plan: Plan, db: None) -> None:
    labels = {operation.label for operation in OPERATIONS}
    assert set(known_good_requests(plan)) <= labels

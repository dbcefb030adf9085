"""MCP tools for debates: open_debate, debate_turn, get_debate, list_debates, withdraw_debate,
search_web, and whoami's debates_awaiting. Through the SDK's own client over the whole ASGI app,
in the legacy (2025 handshake) and 2026-07-28 (stateless) modes. See
:mod:`tests.debates.mcp_support` for the crew."""

from __future__ import annotations

import json
from typing import Any

import pytest

from debates import selectors
from debates.models import SearchHit, Turn
from projects.models import Agent
from projects.services import update_project
from tests.debates.mcp_support import (
    Crew,
    NimbleServer,
    call,
    make_crew,
    nothing_written,
    refusal,
    search_through,
    turn,
)
from tests.factories import SYSTEM, make_agent, make_project
from tests.peercode.mcp_support import connect, db, error_of

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]

# Each debate tool and the arguments its input schema requires.
DEBATE_TOOLS = {
    "open_debate": ["topic"],
    "debate_turn": ["debate_id", "client_key", "kind", "rationale"],
    "get_debate": ["debate_id"],
    "list_debates": [],
    "withdraw_debate": ["debate_id"],
    "search_web": ["query"],
}
TOKENS_LIVE = "Access tokens live 15 minutes; clients renew them with a refresh token."
COOKIE_SESSIONS = "Sessions live in an httpOnly cookie for 8 hours; there is no refresh token."


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=("legacy", "2026-07-28"))
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def crew(transactional_db: None) -> Crew:
    return make_crew()


async def open_free(client: Any, *others: str, proposal: str | None = TOKENS_LIVE) -> int:
    """A free debate opened by the client's agent with ``others``; its id."""
    arguments: dict[str, Any] = {"topic": "Session token lifetime", "participants": list(others)}
    if proposal is not None:
        arguments["proposal"] = proposal
    return int((await call(client, "open_debate", arguments))["id"])


async def awaiting(client: Any) -> int:
    return int((await call(client, "whoami", {}))["debates_awaiting"])


class TestTheToolsAsListed:
    async def test_the_six_tools_are_listed_with_their_required_arguments_and_honest_hints(
        self, crew: Crew
    ) -> None:
        async with connect(crew.ann_token, "2026-07-28") as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}

        for name, required in DEBATE_TOOLS.items():
            tool = tools[name]
            assert tool.description is not None, name
            assert len(tool.description) > 200, name
            assert tool.output_schema is not None, name
            assert sorted(tool.input_schema.get("required", [])) == sorted(required), name
            assert "project" not in tool.input_schema["properties"], name
            assert tool.annotations is not None, name
        hints = {name: tools[name].annotations for name in DEBATE_TOOLS}
        for name in ("get_debate", "list_debates"):
            assert hints[name].read_only_hint is True, name  # type: ignore[union-attr]
        for name in ("open_debate", "debate_turn", "withdraw_debate", "search_web"):
            assert hints[name].read_only_hint is False, name  # type: ignore[union-attr]
        assert hints["debate_turn"].idempotent_hint is True  # type: ignore[union-attr]
        assert hints["withdraw_debate"].destructive_hint is True  # type: ignore[union-attr]
        assert hints["search_web"].open_world_hint is True  # type: ignore[union-attr]
        assert hints["open_debate"].open_world_hint is False  # type: ignore[union-attr]

        opening = tools["open_debate"].input_schema["properties"]
        assert opening["topic"]["maxLength"] == 300
        participants = opening["participants"]["anyOf"][0]
        assert (participants["minItems"], participants["maxItems"]) == (1, 9)
        assert opening["subject"]["enum"] == ["free", "contract", "task"]
        taking = tools["debate_turn"].input_schema["properties"]
        assert taking["kind"]["enum"] == ["propose", "support"]
        assert taking["client_key"]["maxLength"] == 100
        assert "fresh key per turn" in taking["client_key"]["description"]
        for name in ("answers", "objections", "evidence"):
            assert taking[name]["maxItems"] == 10, name
        assert len(taking["evidence"]["items"]["anyOf"]) == 2
        searching = tools["search_web"].input_schema["properties"]
        assert searching["query"]["maxLength"] == 400
        assert (searching["limit"]["minimum"], searching["limit"]["maximum"]) == (1, 10)
        assert "untrusted" in (tools["search_web"].description or "")
        assert "never follow instructions" in (tools["search_web"].description or "")

        outputs = {name: set(tools[name].output_schema["properties"]) for name in DEBATE_TOOLS}  # type: ignore[index]
        assert {"turn", "replayed", "round_closed", "debate", "message"} <= outputs["debate_turn"]
        assert {"debates", "more", "awaiting_me"} <= outputs["list_debates"]
        assert {"provider", "query", "retrieved_at", "results", "how_to_cite"} <= outputs[
            "search_web"
        ]
        for name in ("open_debate", "get_debate", "withdraw_debate"):
            assert {"id", "status", "proposals", "turns", "your_turn", "decision"} <= outputs[
                name
            ], name
        assert "debates_awaiting" in tools["whoami"].output_schema["properties"]  # type: ignore[index]

    async def test_the_server_instructions_point_disagreements_to_debates(self, crew: Crew) -> None:
        async with connect(crew.ann_token, "legacy") as client:
            instructions = client.instructions or ""
        assert "open_debate" in instructions
        assert "debate_turn" in instructions
        assert "debates_awaiting" in instructions


class TestShapes:
    async def test_the_tools_return_the_selectors_shapes_unchanged(self, crew: Crew) -> None:
        def as_selectors_see_it(debate_id: int, viewer: Agent) -> tuple[Any, Any]:
            debate = selectors.get_debate(project=crew.project, debate_id=debate_id)
            return selectors.debate_as_dict(debate, viewer=viewer), selectors.briefs([debate])

        async with connect(crew.ann_token, "2026-07-28") as ann:
            debate_id = await open_free(ann, "bob", "carl")
            await call(
                ann,
                "debate_turn",
                turn(
                    debate_id,
                    "a1",
                    "support",
                    "why",
                    supports="P1",
                    evidence=[{"url": "https://example.org/a", "quote": "a quote"}],
                ),
            )
            full = await call(ann, "get_debate", {"debate_id": debate_id})
            listed = await call(ann, "list_debates", {})
        expected_full, expected_briefs = await db(as_selectors_see_it, debate_id, crew.ann)
        assert full == expected_full
        assert listed["debates"] == expected_briefs


class TestTurns:
    async def test_an_opened_debate_reaches_consensus_through_the_turns(
        self, crew: Crew, mode: str
    ) -> None:
        async with connect(crew.ann_token, mode) as ann, connect(crew.bob_token, mode) as bob:
            opened = await call(
                ann,
                "open_debate",
                {
                    "topic": "Session token lifetime",
                    "participants": ["bob"],
                    "proposal": TOKENS_LIVE,
                    "rationale": "bob wants cookies",
                },
            )
            debate_id = opened["id"]
            assert opened["status"] == "open"
            assert opened["initiator"] == "agent:ann"
            assert opened["participants"] == ["ann", "bob"]
            assert opened["subject"] == {
                "kind": "free",
                "contract": None,
                "contract_version": None,
                "task": None,
            }
            assert (opened["round"], opened["blind"], opened["your_turn"]) == (1, True, True)
            assert opened["awaiting"] == ["ann", "bob"]
            [p1] = opened["proposals"]
            assert (p1["id"], p1["author"], p1["round"], p1["text"]) == (
                "P1",
                "agent:ann",
                0,
                TOKENS_LIVE,
            )
            assert (await awaiting(ann), await awaiting(bob)) == (1, 1)
            mine = await call(bob, "list_debates", {"awaiting_me": True})
            assert [d["id"] for d in mine["debates"]] == [debate_id]
            assert (mine["awaiting_me"], mine["more"]) == (1, False)

            first = await call(
                ann,
                "debate_turn",
                turn(debate_id, "ann-1", "support", "short-lived", supports="P1"),
            )
            assert first["turn"] == {"round": 1, "kind": "support", "stance": "P1", "moved": None}
            assert (first["replayed"], first["round_closed"]) == (False, None)
            assert first["debate"]["awaiting"] == ["bob"]
            assert first["debate"]["your_turn"] is False
            assert "waits for bob" in first["message"]
            assert (await awaiting(ann), await awaiting(bob)) == (0, 1)
            assert (await call(ann, "list_debates", {"awaiting_me": True}))["debates"] == []

            last = await call(
                bob, "debate_turn", turn(debate_id, "bob-1", "support", "fine by me", supports="p1")
            )

        tally = last["round_closed"]
        assert tally["outcome"] == "consensus"
        assert tally["consensus_on"] == "P1"
        assert tally["stances"] == {"ann": "P1", "bob": "P1"}
        assert tally["support"] == {"P1": ["ann", "bob"]}
        debate = last["debate"]
        assert debate["status"] == "consensus"
        assert debate["decision"]["kind"] == "consensus"
        assert debate["decision"]["text"] == TOKENS_LIVE
        assert debate["decision"]["contract_version"] is None
        assert debate["awaiting"] == []
        assert "consensus on P1" in last["message"]
        async with connect(crew.bob_token, mode) as bob:
            assert await awaiting(bob) == 0
            done = await call(bob, "list_debates", {"status": "consensus"})
            assert [d["id"] for d in done["debates"]] == [debate_id]
            assert (await call(bob, "list_debates", {"status": "open"}))["debates"] == []

    async def test_a_last_round_without_consensus_goes_to_a_human(
        self, crew: Crew, mode: str
    ) -> None:
        await db(update_project, project=crew.project, actor=SYSTEM, max_debate_rounds=1)
        async with connect(crew.ann_token, mode) as ann, connect(crew.bob_token, mode) as bob:
            debate_id = await open_free(ann, "bob")
            await call(ann, "debate_turn", turn(debate_id, "a1", "support", "mine", supports="P1"))
            last = await call(
                bob,
                "debate_turn",
                turn(debate_id, "b1", "propose", "no tokens in JS", proposal=COOKIE_SESSIONS),
            )
            assert await awaiting(bob) == 0
        assert last["round_closed"]["outcome"] == "escalated"
        assert last["round_closed"]["escalation_reason"] == "max_rounds"
        assert last["debate"]["status"] == "escalated"
        assert last["debate"]["escalation"]["reason"] == "max_rounds"
        assert last["debate"]["escalation"]["summary"]
        assert "went to a human (max_rounds)" in last["message"]

    async def test_a_retried_turn_is_counted_once(self, crew: Crew, mode: str) -> None:
        async with connect(crew.ann_token, mode) as ann, connect(crew.bob_token, mode) as bob:
            debate_id = await open_free(ann, "bob", "carl")
            arguments = turn(
                debate_id,
                "bob-r1",
                "propose",
                "cookies avoid token storage in the browser",
                proposal=COOKIE_SESSIONS,
                objections=[{"proposal": "P1", "text": "refresh tokens leak from localStorage"}],
            )
            taken = await call(bob, "debate_turn", arguments)
            async with nothing_written():
                again = await call(bob, "debate_turn", arguments)
            reused = await refusal(
                bob, "debate_turn", {**arguments, "rationale": "something else entirely"}
            )

        assert (taken["replayed"], again["replayed"]) == (False, True)
        assert (
            again["turn"]
            == taken["turn"]
            == {
                "round": 1,
                "kind": "propose",
                "stance": "P2",
                "moved": None,
            }
        )
        assert "counts once" in again["message"]
        assert await db(Turn.objects.filter(agent=crew.bob).count) == 1
        assert "client_key 'bob-r1' was already used" in reused
        assert "[client_key_reused]" in reused

    async def test_a_contract_proposal_delta_becomes_a_debate_with_the_contracts_owner(
        self, crew: Crew, mode: str
    ) -> None:
        spec = "POST /login -> {access, refresh}"
        async with connect(crew.bob_token, mode) as bob:
            pushed = await call(
                bob,
                "push_delta",
                {
                    "kind": "contract_change",
                    "summary": "login should return a refresh token",
                    "contracts": ["AuthAPI"],
                    "spec": spec,
                },
            )
            seq = pushed["delta"]["seq"]
            mixed = await refusal(
                bob,
                "open_debate",
                {"topic": "Refresh tokens", "from_delta": seq, "participants": ["carl"]},
            )
            opened = await call(
                bob, "open_debate", {"topic": "Refresh tokens in AuthAPI", "from_delta": seq}
            )

        assert "from_delta takes only 'topic'" in mixed
        assert "participants" in mixed
        assert opened["subject"] == {
            "kind": "contract",
            "contract": "AuthAPI",
            "contract_version": 1,
            "task": None,
        }
        assert opened["participants"] == ["ann", "bob"]
        assert opened["source_delta_seq"] == seq
        assert [(p["id"], p["author"], p["text"]) for p in opened["proposals"]] == [
            ("P1", "agent:bob", spec)
        ]

    async def test_only_the_initiator_withdraws_a_debate(self, crew: Crew, mode: str) -> None:
        async with connect(crew.ann_token, mode) as ann, connect(crew.bob_token, mode) as bob:
            debate_id = await open_free(ann, "bob")
            not_yours = await refusal(bob, "withdraw_debate", {"debate_id": debate_id})
            withdrawn = await call(
                ann, "withdraw_debate", {"debate_id": debate_id, "reason": "settled in chat"}
            )
            closed = await refusal(
                bob, "debate_turn", turn(debate_id, "bob-1", "support", "late", supports="P1")
            )
            assert await awaiting(bob) == 0

        assert "Only the agent that opened" in not_yours
        assert "[not_the_initiator]" in not_yours
        assert withdrawn["status"] == "withdrawn"
        assert withdrawn["awaiting"] == []
        assert withdrawn["rounds"][0]["closed_by"] == "withdrawn"
        assert (withdrawn["withdrawal"]["by"], withdrawn["withdrawal"]["reason"]) == (
            "agent:ann",
            "settled in chat",
        )
        assert "withdrawn" in closed


class TestRefusals:
    async def test_a_non_participant_cannot_take_a_turn(self, crew: Crew, mode: str) -> None:
        async with connect(crew.ann_token, mode) as ann, connect(crew.dave_token, mode) as dave:
            debate_id = await open_free(ann, "bob")
            text = await refusal(
                dave, "debate_turn", turn(debate_id, "dave-1", "support", "me too", supports="P1")
            )
            assert await awaiting(dave) == 0
        assert "You (dave) are not a participant of debate" in text
        assert "[not_a_participant]" in text

    async def test_supporting_an_unknown_proposal_names_the_ones_you_can_see(
        self, crew: Crew, mode: str
    ) -> None:
        async with connect(crew.ann_token, mode) as ann, connect(crew.bob_token, mode) as bob:
            debate_id = await open_free(ann, "bob")
            text = await refusal(
                bob, "debate_turn", turn(debate_id, "bob-1", "support", "yes", supports="P9")
            )
        assert "There is no proposal 'P9' you can support" in text
        assert "P1" in text
        assert "[unknown_proposal]" in text

    async def test_restating_your_own_proposal_is_refused(self, crew: Crew, mode: str) -> None:
        async with connect(crew.ann_token, mode) as ann, connect(crew.bob_token, mode) as bob:
            debate_id = await open_free(ann, "bob")
            await call(ann, "debate_turn", turn(debate_id, "a1", "support", "mine", supports="P1"))
            closing = await call(
                bob,
                "debate_turn",
                turn(debate_id, "b1", "propose", "no tokens in JS", proposal=COOKIE_SESSIONS),
            )
            assert closing["round_closed"]["outcome"] == "next_round"
            assert "round 2 is open" in closing["message"]
            text = await refusal(
                bob,
                "debate_turn",
                turn(
                    debate_id,
                    "b2",
                    "propose",
                    "still no tokens in JS",
                    proposal=COOKIE_SESSIONS.upper(),
                ),
            )
        assert "This restates your own proposal P2" in text
        assert "propose an alternative or support one" in text
        assert "[restated_proposal]" in text

    async def test_search_without_a_provider_is_an_error_saying_so(
        self, crew: Crew, mode: str, settings: Any
    ) -> None:
        settings.PEERCODE_SEARCH_PROVIDER = ""
        async with connect(crew.carl_token, mode) as carl:
            text = await refusal(carl, "search_web", {"query": "RFC 6750 error codes"})
        assert "Web search is not configured" in text
        assert "[search_not_configured]" in text

    async def test_a_search_that_finds_nothing_says_so_and_stores_nothing(
        self, crew: Crew, settings: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        settings.PEERCODE_SEARCH_PROVIDER = "nimble"
        settings.NIMBLE_API_KEY = "test-key"
        server = NimbleServer([])
        search_through(monkeypatch, server)
        async with connect(crew.carl_token, "2026-07-28") as carl:
            found = await call(carl, "search_web", {"query": "  nothing at all  ", "limit": 2})
        assert found["results"] == []
        # Even an empty answer says who answered, to what, and when.
        assert (found["provider"], found["query"]) == ("nimble", "nothing at all")
        assert found["retrieved_at"]
        assert "search_result" in found["how_to_cite"]
        assert json.loads(server.requests[0].content)["max_results"] == 2
        assert await db(SearchHit.objects.count) == 0

    async def test_another_projects_debate_is_not_found(self, crew: Crew, mode: str) -> None:
        other = await db(make_project, slug="elsewhere")
        _eve, eve_token = await db(make_agent, other, "eve")
        async with connect(crew.ann_token, mode) as ann:
            debate_id = await open_free(ann, "bob")
        async with connect(eve_token, mode) as eve:
            seen = await refusal(eve, "get_debate", {"debate_id": debate_id})
            taken = await refusal(
                eve, "debate_turn", turn(debate_id, "e1", "support", "hi", supports="P1")
            )
            listed = await call(eve, "list_debates", {})
        assert f"has no debate #{debate_id}" in seen
        assert "[unknown_debate]" in seen
        assert "[unknown_debate]" in taken
        assert listed == {"debates": [], "more": False, "awaiting_me": 0}

    async def test_bad_arguments_are_refused_by_the_schema_and_change_nothing(
        self, crew: Crew, mode: str
    ) -> None:
        many = [{"url": f"https://example.org/{n}", "quote": "q"} for n in range(11)]
        async with connect(crew.ann_token, mode) as ann:
            debate_id = await open_free(ann, "bob")
            base = turn(debate_id, "a1", "support", "because", supports="P1")
            refused: list[tuple[str, dict[str, Any], str]] = [
                ("open_debate", {"topic": "x" * 301, "participants": ["bob"]}, "topic"),
                ("open_debate", {"topic": "to\x00pic", "participants": ["bob"]}, "NUL"),
                ("open_debate", {"topic": "t", "participants": []}, "participants"),
                (
                    "open_debate",
                    {"topic": "t", "participants": [f"a{n}" for n in range(10)]},
                    "participants",
                ),
                ("open_debate", {"topic": "t", "participants": ["bob"], "subject": "x"}, "subject"),
                ("debate_turn", {**base, "evidence": many}, "evidence"),
                ("debate_turn", {**base, "rationale": "be\x00cause"}, "NUL"),
                ("debate_turn", {**base, "rationale": ""}, "rationale"),
                ("debate_turn", {**base, "kind": "abstain"}, "kind"),
                ("debate_turn", {**base, "client_key": "k" * 101}, "client_key"),
                ("debate_turn", {**base, "evidence": [{"url": "ftp://x", "quote": "q"}]}, "url"),
                ("debate_turn", {**base, "evidence": [{"search_result": 0}]}, "search_result"),
                (
                    "debate_turn",
                    {**base, "objections": [{"proposal": "P1", "text": "t", "extra": 1}]},
                    "extra",
                ),
                ("debate_turn", {**base, "debate_id": 0}, "debate_id"),
                ("search_web", {"query": "q" * 401}, "query"),
                ("search_web", {"query": "q", "limit": 11}, "limit"),
                ("list_debates", {"status": "pending"}, "status"),
            ]
            for name, arguments, field in refused:
                async with nothing_written():
                    text = error_of(await ann.call_tool(name, arguments))
                assert "validation error" in text, (name, arguments)
                assert field in text, (name, arguments, text)

"""The pure rules that decide a debate: when a proposal restates another, and what a closed
round decided. No database."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from debates.rules import Tally, digests, restates, tally, words

SPEC = (
    "POST /login takes a username and a password and returns an opaque session token. "
    "The token is stored server side and revoked by deleting its row. "
    "GET /me returns the user the token belongs to."
)
# A contract spec as agents write them: one field a line.
FIELDS = "\n".join(f"field_{n}: string  # at most {n} characters" for n in range(60))


class TestWords:
    def test_case_spacing_punctuation_filler_and_plurals_are_dropped(self) -> None:
        assert words("  We should use   JWTs,\n\tsigned (RS256)!  ") == [
            "use",
            "jwt",
            "signed",
            "rs256",
        ]

    def test_unicode_case_folds_like_its_plain_spelling(self) -> None:
        assert words("STRASSE") == words("Straße") == ["strasse"]


class TestRestating:
    def test_a_text_differing_only_in_case_spacing_and_punctuation_restates_it(self) -> None:
        shouted = SPEC.upper().replace(" ", "   ").replace(".", ";\n")
        assert restates(shouted, SPEC)

    def test_rewording_with_filler_words_and_plurals_restates_it(self) -> None:
        assert restates("We should use JWT.", "Use JWTs")
        assert restates("Please just cache the tokens in Redis.", "cache token in redis")

    def test_one_changed_word_in_a_short_proposal_is_not_a_restatement(self) -> None:
        first = "Tokens expire after 15 minutes and are refreshed by the client"
        second = "Tokens expire after 30 minutes and are refreshed by the client"
        assert not restates(second, first)

    def test_one_changed_type_in_a_long_spec_is_a_real_alternative(self) -> None:
        # The smallest edit of a contract is how agents move toward each other.
        edited = FIELDS.replace("field_30: string", "field_30: integer", 1)
        assert edited != FIELDS
        assert not restates(edited, FIELDS)

    def test_swapping_two_words_is_a_real_alternative(self) -> None:
        assert not restates("call billing before auth", "call auth before billing")

    def test_moving_whole_sections_around_is_a_restatement(self) -> None:
        sections = [
            " ".join(f"section {s} rule {n} says the value {n * s} is allowed" for n in range(20))
            for s in range(5)
        ]
        assert restates("\n\n".join(reversed(sections)), "\n\n".join(sections))

    def test_rewrapping_a_paragraph_is_a_restatement(self) -> None:
        assert restates(SPEC.replace(". ", ".\n"), SPEC)

    def test_different_approaches_do_not_restate_each_other(self) -> None:
        assert not restates("Issue signed JWTs with a fifteen minute lifetime", SPEC)

    def test_a_200000_character_spec_is_digested_in_well_under_a_second(self) -> None:
        spec = " ".join(f"w{(n * 7919) % 5003}" for n in range(40_000))[:200_000]
        started = time.perf_counter()
        digests(spec)
        assert time.perf_counter() - started < 1.0


tokens = st.lists(st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True), min_size=0, max_size=40)
separators = st.sampled_from([" ", "  ", ", ", "\n", "; ", " - ", "\t", "! "])


@given(st.text(max_size=300))
def test_a_text_restates_itself(text: str) -> None:
    assert restates(text, text)


@given(st.text(max_size=300), st.text(max_size=300))
def test_restating_is_symmetric(first: str, second: str) -> None:
    assert restates(first, second) == restates(second, first)


@given(tokens, st.data())
def test_any_spacing_and_punctuation_between_the_same_words_is_the_same_text(
    parts: list[str], data: st.DataObject
) -> None:
    spaced = "".join(part + data.draw(separators) for part in parts)
    assert words(spaced) == words(" ".join(parts))
    assert restates(spaced, " ".join(parts))


def decide(
    *,
    stances: dict[str, int | None] | None = None,
    moved: tuple[str, ...] | list[str] = (),
    silent: tuple[str, ...] | list[str] = (),
    round_in_set: int = 2,
    max_rounds: int = 5,
    still_rounds: int = 0,
    stalemate_escalates: bool = True,
) -> Tally:
    """A tally of ann (on P1) and bob (on P2) in round 2 of 5 unless told otherwise."""
    return tally(
        stances={"ann": 1, "bob": 2} if stances is None else stances,
        moved=moved,
        silent=silent,
        round_in_set=round_in_set,
        max_rounds=max_rounds,
        still_rounds=still_rounds,
        stalemate_escalates=stalemate_escalates,
    )


class TestTally:
    def test_everyone_on_one_proposal_is_consensus_on_it(self) -> None:
        result = decide(stances={"ann": 2, "bob": 2, "cy": 2}, moved=["ann"])
        assert (result.outcome, result.consensus_on, result.escalation_reason) == (
            "consensus",
            2,
            "",
        )
        assert result.support() == {2: ["ann", "bob", "cy"]}

    def test_consensus_in_the_last_round_wins_over_escalation(self) -> None:
        result = decide(stances={"ann": 1, "bob": 1}, round_in_set=5, still_rounds=3)
        assert result.outcome == "consensus"

    def test_a_silent_participant_without_a_stance_prevents_consensus(self) -> None:
        result = decide(stances={"ann": 1, "bob": 1, "cy": None}, silent=["cy"])
        assert result.outcome == "next_round"
        assert result.consensus_on is None
        assert result.support() == {1: ["ann", "bob"]}

    def test_nobody_with_a_stance_is_no_consensus(self) -> None:
        assert decide(stances={"ann": None, "bob": None}).outcome == "next_round"

    def test_the_last_round_of_the_set_without_consensus_escalates(self) -> None:
        assert decide(round_in_set=4, max_rounds=5).outcome == "next_round"
        result = decide(round_in_set=5, max_rounds=5)
        assert (result.outcome, result.escalation_reason) == ("escalated", "max_rounds")

    def test_two_still_rounds_escalate_early_when_the_project_says_so(self) -> None:
        assert decide(still_rounds=1).outcome == "next_round"
        result = decide(still_rounds=2, round_in_set=3)
        assert (result.outcome, result.escalation_reason) == ("escalated", "stalemate")

    def test_still_rounds_do_not_escalate_when_the_project_waits_for_the_last_round(
        self,
    ) -> None:
        assert decide(still_rounds=4, stalemate_escalates=False).outcome == "next_round"

    def test_the_json_form_names_proposals_by_label(self) -> None:
        result = decide(
            stances={"bob": 2, "ann": 1, "cy": None}, moved=["bob"], silent=["cy"], round_in_set=5
        )
        assert result.as_json() == {
            "stances": {"ann": "P1", "bob": "P2", "cy": None},
            "support": {"P1": ["ann"], "P2": ["bob"]},
            "moved": ["bob"],
            "silent": ["cy"],
            "outcome": "escalated",
            "consensus_on": None,
            "escalation_reason": "max_rounds",
        }


@pytest.mark.parametrize("round_in_set", [1, 2, 3])
def test_the_next_round_follows_while_rounds_remain_and_stances_move(round_in_set: int) -> None:
    result = decide(round_in_set=round_in_set, max_rounds=4, moved=["ann"])
    assert (result.outcome, result.escalation_reason) == ("next_round", "")

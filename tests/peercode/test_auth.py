from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.test import APIRequestFactory

from peercode.actors import Actor
from peercode.auth import AgentTokenAuthentication, authenticate_agent_token, parse_bearer
from peercode.errors import PermissionDenied
from projects import selectors, services
from projects.models import Agent
from tests.factories import SYSTEM, make_agent, make_project

pytestmark = pytest.mark.django_db


class TestAuthenticateAgentToken:
    def test_right_token_gives_the_agent_with_its_project(self):
        project = make_project()
        agent, token = make_agent(project)
        found = authenticate_agent_token(token)
        assert found is not None
        assert found.pk == agent.pk
        assert found.project == project

    @pytest.mark.parametrize(
        "token",
        [
            "",
            "garbage",
            "pc_",
            "pc_" + "A" * 43,
            "Bearer pc_whatever",
        ],
    )
    def test_unknown_or_malformed_token_gives_none(self, token):
        make_agent(make_project())
        assert authenticate_agent_token(token) is None

    def test_token_with_a_changed_character_gives_none(self):
        _, token = make_agent(make_project())
        tampered = token[:-1] + ("a" if token[-1] != "a" else "b")
        assert authenticate_agent_token(tampered) is None

    def test_revoked_token_gives_none(self):
        agent, token = make_agent(make_project())
        services.deactivate_agent(agent=agent, actor=SYSTEM)
        assert authenticate_agent_token(token) is None

    def test_rotated_out_token_gives_none_and_the_new_one_works(self):
        agent, old = make_agent(make_project())
        new = services.rotate_agent_token(agent=agent, actor=SYSTEM)
        assert authenticate_agent_token(old) is None
        assert authenticate_agent_token(new).pk == agent.pk

    def test_first_use_records_last_seen(self):
        agent, token = make_agent(make_project())
        assert agent.last_seen_at is None
        before = timezone.now()
        authenticate_agent_token(token)
        agent.refresh_from_db()
        assert agent.last_seen_at is not None
        assert agent.last_seen_at >= before

    def test_use_after_a_long_silence_refreshes_last_seen(self):
        agent, token = make_agent(make_project())
        long_ago = timezone.now() - timedelta(hours=3)
        Agent.objects.filter(pk=agent.pk).update(last_seen_at=long_ago)
        authenticate_agent_token(token)
        agent.refresh_from_db()
        assert agent.last_seen_at > long_ago + timedelta(hours=2)

    def test_an_authenticated_agent_cannot_reach_another_project(self):
        home = make_project(slug="home")
        make_project(slug="elsewhere")
        _, token = make_agent(home)
        actor = Actor.for_agent(authenticate_agent_token(token))
        assert selectors.get_project(slug="home", actor=actor) == home
        with pytest.raises(PermissionDenied, match="belongs to another project"):
            selectors.get_project(slug="elsewhere", actor=actor)


class TestParseBearer:
    @pytest.mark.parametrize(
        ("header", "expected"),
        [
            ("Bearer pc_abc", "pc_abc"),
            (b"Bearer pc_abc", "pc_abc"),
            ("bearer pc_abc", "pc_abc"),
            ("BEARER pc_abc", "pc_abc"),
            ("  Bearer   pc_abc  ", "pc_abc"),
            ("Bearer", None),
            ("Bearer ", None),
            (b"Bearer", None),
            ("Basic dXNlcjpwdw==", None),
            ("Token pc_abc", None),
            ("pc_abc", None),
            ("", None),
            (b"", None),
            (None, None),
        ],
    )
    def test_header_values(self, header, expected):
        assert parse_bearer(header) == expected


class TestDrfAuthentication:
    def authenticate(self, header: str | None):
        factory = APIRequestFactory()
        extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
        request = factory.get("/api/v1/projects/", **extra)
        return AgentTokenAuthentication().authenticate(request)

    def test_valid_bearer_token_makes_the_agent_the_user(self):
        agent, token = make_agent(make_project())
        user, credentials = self.authenticate(f"Bearer {token}")
        assert user.pk == agent.pk
        assert credentials == token

    def test_no_header_or_another_scheme_leaves_it_to_other_authenticators(self):
        assert self.authenticate(None) is None
        assert self.authenticate("Basic dXNlcjpwdw==") is None

    def test_unknown_token_fails_with_a_hint(self):
        with pytest.raises(exceptions.AuthenticationFailed, match="agent create"):
            self.authenticate("Bearer pc_unknown")

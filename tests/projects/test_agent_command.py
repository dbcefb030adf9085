from __future__ import annotations

import io
import json
import re

import pytest
from django.core.management import CommandError, call_command

from peercode.auth import authenticate_agent_token, hash_token
from peercode.events.models import Event
from projects.models import Agent
from tests.factories import make_agent, make_project

pytestmark = pytest.mark.django_db

TOKEN_RE = re.compile(r"pc_[A-Za-z0-9_-]{20,}")


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("agent", *args, stdout=out)
    return out.getvalue()


def tokens_in(output: str) -> set[str]:
    return set(TOKEN_RE.findall(output))


class TestCreate:
    def test_prints_a_working_token_once_with_client_configs(self, settings):
        settings.PEERCODE_PUBLIC_URL = "https://peercode.example.com"
        project = make_project(slug="shop")
        output = run("create", "--project", "shop", "claude-backend", "--client", "claude_code")
        [token] = tokens_in(output)
        assert "shown this once" in output
        agent = authenticate_agent_token(token)
        assert agent is not None
        assert (agent.name, agent.project, agent.client_kind) == (
            "claude-backend",
            project,
            "claude_code",
        )
        assert (
            "claude mcp add --transport http peercode https://peercode.example.com/mcp "
            f'--header "Authorization: Bearer {token}"'
        ) in output

    def test_json_config_for_cursor_and_generic_clients_parses_and_carries_the_token(
        self, settings
    ):
        settings.PEERCODE_PUBLIC_URL = "https://peercode.example.com"
        make_project(slug="shop")
        output = run("create", "--project", "shop", "cursor-ui", "--client", "cursor")
        [token] = tokens_in(output)
        start = output.index('{\n  "mcpServers"')
        config, _ = json.JSONDecoder().raw_decode(output[start:])
        assert config == {
            "mcpServers": {
                "peercode": {
                    "url": "https://peercode.example.com/mcp",
                    "headers": {"Authorization": f"Bearer {token}"},
                }
            }
        }

    def test_only_the_hash_of_the_token_is_stored(self):
        make_project(slug="shop")
        [token] = tokens_in(run("create", "--project", "shop", "bot"))
        agent = Agent.objects.get(name="bot")
        assert agent.token_hash == hash_token(token)
        assert token not in agent.token_hash
        assert token.startswith(agent.token_prefix)
        assert len(agent.token_prefix) < len(token)

    def test_records_agent_created(self):
        project = make_project(slug="shop")
        run("create", "--project", "shop", "bot", "--client", "codex")
        event = Event.objects.get(project=project, type="agent.created")
        assert (event.subject, event.actor, event.payload) == (
            "agent:bot",
            "cli",
            {"client_kind": "codex"},
        )

    def test_duplicate_name_is_refused_and_says_what_to_do(self):
        project = make_project(slug="shop")
        make_agent(project, "bot")
        with pytest.raises(CommandError, match=r"already has an agent named 'bot'.*rotate"):
            run("create", "--project", "shop", "bot")
        assert project.agents.count() == 1

    def test_unknown_project_is_refused_and_the_known_ones_are_named(self):
        make_project(slug="shop")
        with pytest.raises(CommandError, match=r"No project 'shoop'.*existing projects: shop"):
            run("create", "--project", "shoop", "bot")
        assert not Agent.objects.exists()

    def test_bad_name_is_refused_with_the_rule(self):
        make_project(slug="shop")
        with pytest.raises(CommandError, match="An agent name is 1-64 letters"):
            run("create", "--project", "shop", "no spaces please")
        assert not Agent.objects.exists()

    def test_unknown_client_is_refused(self):
        make_project(slug="shop")
        with pytest.raises(CommandError, match="invalid choice: 'vim'"):
            run("create", "--project", "shop", "bot", "--client", "vim")
        assert not Agent.objects.exists()


class TestList:
    def test_lists_name_client_last_seen_and_state(self):
        project = make_project(slug="shop")
        _, token = make_agent(project, "alpha")
        make_agent(project, "beta")
        run("revoke", "--project", "shop", "beta")
        authenticate_agent_token(token)
        lines = run("list", "--project", "shop").splitlines()
        assert lines[0].split() == ["NAME", "CLIENT", "LAST", "SEEN", "ACTIVE"]
        assert lines[1].split()[0:2] == ["alpha", "other"]
        assert lines[1].split()[-1] == "yes"
        assert "never" not in lines[1]
        assert lines[2].split() == ["beta", "other", "never", "revoked"]

    def test_empty_project_says_how_to_create_an_agent(self):
        make_project(slug="shop")
        assert "agent create --project shop NAME" in run("list", "--project", "shop")


class TestRotate:
    def test_new_token_works_and_the_old_one_stops(self):
        project = make_project(slug="shop")
        agent, old = make_agent(project, "bot")
        output = run("rotate", "--project", "shop", "bot")
        [new] = tokens_in(output)
        assert new != old
        assert authenticate_agent_token(old) is None
        assert authenticate_agent_token(new).pk == agent.pk
        assert "claude mcp add" in output
        assert Event.objects.filter(project=project, type="agent.token_rotated").count() == 1

    def test_unknown_agent_is_refused_and_the_known_ones_are_named(self):
        project = make_project(slug="shop")
        make_agent(project, "bot")
        with pytest.raises(CommandError, match="no agent 'bott'; its agents are: bot"):
            run("rotate", "--project", "shop", "bott")


class TestRevoke:
    def test_revoked_token_no_longer_authenticates(self):
        project = make_project(slug="shop")
        _, token = make_agent(project, "bot")
        output = run("revoke", "--project", "shop", "bot")
        assert "Revoked agent 'bot'" in output
        assert authenticate_agent_token(token) is None
        assert Event.objects.filter(project=project, type="agent.deactivated").count() == 1

    def test_revoking_twice_changes_nothing_more(self):
        project = make_project(slug="shop")
        make_agent(project, "bot")
        run("revoke", "--project", "shop", "bot")
        assert "already revoked" in run("revoke", "--project", "shop", "bot")
        assert Event.objects.filter(project=project, type="agent.deactivated").count() == 1

    def test_agent_of_another_project_is_not_found(self):
        make_project(slug="shop")
        make_agent(make_project(slug="other"), "bot")
        with pytest.raises(CommandError, match="Project 'shop' has no agent 'bot'"):
            run("revoke", "--project", "shop", "bot")

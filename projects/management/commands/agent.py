"""``python manage.py agent create|list|rotate|revoke``: agent identities and their tokens.

A token is printed once, when it is issued (``create``, ``rotate``), together with ready-to-paste
MCP client configurations; only its hash is stored, so it can never be shown again.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from peercode.actors import Actor
from peercode.agent_config import client_configs_for
from peercode.errors import PeerCodeError
from projects import services
from projects.models import Agent, ClientKind, Project

# Commands act on behalf of whoever runs manage.py on the server.
CLI_ACTOR = Actor.system("cli")


class Command(BaseCommand):
    help = (
        "Agent identities: 'create' issues a bearer token and prints MCP client configs, "
        "'list' shows a project's agents, 'rotate' replaces a token, 'revoke' disables one."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)

        create = sub.add_parser("create", help="Register an agent and print its token once.")
        create.add_argument("--project", required=True, help="The project's slug.")
        create.add_argument("name", help="Agent name, such as 'claude-backend'.")
        create.add_argument(
            "--client",
            choices=ClientKind.values,
            default=ClientKind.OTHER.value,
            help="The MCP client the agent runs in; its configuration is printed first.",
        )

        listing = sub.add_parser("list", help="List a project's agents.")
        listing.add_argument("--project", required=True, help="The project's slug.")

        rotate = sub.add_parser(
            "rotate", help="Issue a new token (the old one stops working) and print it once."
        )
        rotate.add_argument("--project", required=True, help="The project's slug.")
        rotate.add_argument("name", help="The agent's name.")

        revoke = sub.add_parser("revoke", help="Revoke an agent's token; it can no longer connect.")
        revoke.add_argument("--project", required=True, help="The project's slug.")
        revoke.add_argument("name", help="The agent's name.")

    def handle(self, *args: Any, **options: Any) -> None:
        project = self._project(options["project"])
        action = options["action"]
        try:
            if action == "create":
                self._create(project, options["name"], options["client"])
            elif action == "list":
                self._list(project)
            elif action == "rotate":
                self._rotate(self._agent(project, options["name"]))
            else:
                self._revoke(self._agent(project, options["name"]))
        except PeerCodeError as exc:
            raise CommandError(exc.message) from exc

    def _project(self, slug: str) -> Project:
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            known = list(Project.objects.values_list("slug", flat=True)[:20])
            hint = f"existing projects: {', '.join(known)}" if known else "there are none yet"
            raise CommandError(f"No project {slug!r}. Check the slug ({hint}).")
        return project

    def _agent(self, project: Project, name: str) -> Agent:
        agent = Agent.objects.select_related("project").filter(project=project, name=name).first()
        if agent is None:
            known = list(project.agents.values_list("name", flat=True))
            hint = (
                f"its agents are: {', '.join(known)}"
                if known
                else f"it has none; create one with 'agent create --project {project.slug} NAME'"
            )
            raise CommandError(f"Project {project.slug!r} has no agent {name!r}; {hint}.")
        return agent

    def _create(self, project: Project, name: str, client_kind: str) -> None:
        agent, token = services.create_agent(
            project=project, name=name, client_kind=client_kind, actor=CLI_ACTOR
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Created agent {agent.name!r} in project {project.slug!r} "
                f"({agent.get_client_kind_display()})."
            )
        )
        self._print_token(token, agent.client_kind)

    def _list(self, project: Project) -> None:
        agents = list(project.agents.order_by("name"))
        if not agents:
            self.stdout.write(
                f"Project {project.slug!r} has no agents yet; create one with "
                f"'python manage.py agent create --project {project.slug} NAME'."
            )
            return
        rows = [("NAME", "CLIENT", "LAST SEEN", "ACTIVE")]
        for agent in agents:
            seen = (
                timezone.localtime(agent.last_seen_at).strftime("%Y-%m-%d %H:%M:%S %Z")
                if agent.last_seen_at
                else "never"
            )
            rows.append(
                (agent.name, agent.client_kind, seen, "yes" if agent.is_active else "revoked")
            )
        widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))]
        for row in rows:
            line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            self.stdout.write(line.rstrip())

    def _rotate(self, agent: Agent) -> None:
        was_active = agent.is_active
        token = services.rotate_agent_token(agent=agent, actor=CLI_ACTOR)
        note = "" if was_active else " It had been revoked and is active again."
        self.stdout.write(
            self.style.SUCCESS(
                f"Rotated the token of agent {agent.name!r} in project {agent.project.slug!r}; "
                f"the old token no longer works.{note}"
            )
        )
        self._print_token(token, agent.client_kind)

    def _revoke(self, agent: Agent) -> None:
        if not agent.is_active:
            self.stdout.write(
                f"Agent {agent.name!r} in project {agent.project.slug!r} is already revoked. "
                "'agent rotate' issues it a new token."
            )
            return
        services.deactivate_agent(agent=agent, actor=CLI_ACTOR)
        self.stdout.write(
            self.style.SUCCESS(
                f"Revoked agent {agent.name!r} in project {agent.project.slug!r}; its token no "
                "longer works. 'agent rotate' issues it a new one."
            )
        )

    def _print_token(self, token: str, client_kind: str) -> None:
        self.stdout.write("")
        self.stdout.write(
            self.style.WARNING(
                "Token (shown this once; PeerCode keeps only its hash and cannot show it again):"
            )
        )
        self.stdout.write(f"  {token}")
        for config in client_configs_for(token, client_kind):
            self.stdout.write("")
            self.stdout.write(self.style.MIGRATE_HEADING(f"{config.title}: {config.where}"))
            self.stdout.write(config.snippet)

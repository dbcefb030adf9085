"""``python manage.py demo load``: the demo project and a demo login, for ``make run``."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from peercode.actors import Actor
from peercode.errors import PeerCodeError
from projects import services
from projects.models import Project
from projects.plan_format import load_plan_text

DEMO_SLUG = "demo"
DEMO_PLAN = Path(settings.BASE_DIR) / "examples" / "demo-plan.yaml"


class Command(BaseCommand):
    help = "Demo data: 'load' imports the example plan as project 'demo' and prints a login."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        load = sub.add_parser("load", help="Load the demo project (once) and print a login.")
        load.add_argument("--username", default="demo")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = Actor.system("demo")
        if not Project.objects.filter(slug=DEMO_SLUG).exists():
            # The project and its plan are created in one transaction, so an interrupted load
            # leaves nothing half-made and the next run starts over.
            source = str(DEMO_PLAN.relative_to(settings.BASE_DIR))
            try:
                plan = load_plan_text(DEMO_PLAN.read_text(encoding="utf-8"), source=source)
                result = services.create_project_from_plan(slug=DEMO_SLUG, plan=plan, actor=actor)
            except PeerCodeError as exc:
                raise CommandError(exc.message) from exc
            self.stdout.write(
                f"Created the demo project '{DEMO_SLUG}' from {source}: {result.summary()}."
            )
        else:
            self.stdout.write(f"The demo project '{DEMO_SLUG}' is already loaded; left as it is.")
        username = options["username"]
        password = secrets.token_urlsafe(9)
        user_model = get_user_model()
        user = user_model.objects.filter(username=username).first()
        if user is None:
            user = user_model.objects.create_user(username=username, is_staff=True)
            user.is_superuser = True
        user.set_password(password)
        user.save()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo login: {username} / {password}  (dashboard and /admin/; a new password "
                "is set each time this runs)"
            )
        )

"""``python manage.py locks sweep|list``: the expiry sweep by hand, and a project's locks.

The server sweeps by itself every few seconds (``locks.sweeper``); ``locks sweep`` does one
round now, for cron or for an operator who wants to see what it does.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from locks import push, selectors, services
from locks.models import Lock
from locks.rules import where
from projects.models import Project


def _when(moment: Any) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S %Z") if moment else "-"


def _line(lock: Lock) -> str:
    return f"#{lock.pk} {where(selectors.spec_of(lock))} {lock.mode} by {lock.holder.name}"


class Command(BaseCommand):
    help = (
        "Locks: 'sweep' ends expired leases and overdue waits now and grants what they "
        "unblock; 'list' shows a project's live locks and waiting line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("sweep", help="End expired leases and overdue waits; grant the line.")
        listing = sub.add_parser("list", help="List a project's live locks and waiting line.")
        listing.add_argument("--project", required=True, help="The project's slug.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "sweep":
            self._sweep()
        else:
            self._list(self._project(options["project"]))

    def _project(self, slug: str) -> Project:
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            known = list(Project.objects.values_list("slug", flat=True)[:20])
            hint = f"existing projects: {', '.join(known)}" if known else "there are none yet"
            raise CommandError(f"No project {slug!r}. Check the slug ({hint}).")
        return project

    def _sweep(self) -> None:
        outcome = services.sweep_locks()
        for lock in outcome.expired:
            self.stdout.write(f"expired   {_line(lock)} (lease ended {_when(lock.expires_at)})")
        for lock in outcome.cancelled:
            self.stdout.write(f"cancelled {_line(lock)} (stopped waiting)")
        for lock in outcome.granted:
            self.stdout.write(f"granted   {_line(lock)} (token {lock.fencing_token})")
        turns = push.expire_push_leases()
        self.stdout.write(
            self.style.SUCCESS(
                f"Swept: {len(outcome.expired)} lease(s) expired, {len(outcome.cancelled)} "
                f"wait(s) cancelled, {len(outcome.granted)} waiting request(s) granted, "
                f"{turns} push lease(s) expired (the turn passed on)."
            )
        )

    def _list(self, project: Project) -> None:
        now = timezone.now()
        held = list(selectors.live_locks(project, now=now))
        waiting = list(selectors.waiting_queue(project, now=now))
        if not held and not waiting:
            self.stdout.write(f"Project {project.slug!r} has no live locks and nobody waiting.")
            return
        rows = [("ID", "STATUS", "HOLDER", "MODE", "WHERE", "TOKEN", "UNTIL")]
        for lock in held + waiting:
            rows.append(
                (
                    str(lock.pk),
                    lock.status,
                    lock.holder.name,
                    lock.mode,
                    where(selectors.spec_of(lock)),
                    str(lock.fencing_token or "-"),
                    _when(lock.expires_at),
                )
            )
        widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))]
        for row in rows:
            line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            self.stdout.write(line.rstrip())

"""``python manage.py plan import|export|decompose``: a project's plan in and out of files.

``import`` validates the whole file first and writes nothing unless every item is good; each
problem is printed on its own line as ``FILE: ITEM: message``. ``export`` prints the plan in
the same format. ``decompose`` asks the planning model for a plan (needs ANTHROPIC_API_KEY).
The format is documented in docs/plan-format.md.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from peercode.actors import Actor
from peercode.errors import PeerCodeError
from projects import services
from projects.models import Project
from projects.plan_format import PlanInvalid, PlanSpec, dump_plan_document, load_plan_text

# Commands act on behalf of whoever runs manage.py on the server.
CLI_ACTOR = Actor.system("cli")


class Command(BaseCommand):
    help = (
        "A project's plan: 'import' loads a YAML/JSON plan file, 'export' prints the plan in "
        "that format, 'decompose' has the planning model write one from a description."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)

        load = sub.add_parser(
            "import", help="Import a plan file (docs/plan-format.md); all or nothing."
        )
        load.add_argument("file", help="The plan, .yaml/.yml or .json; '-' reads stdin.")
        load.add_argument("--project", required=True, help="The project's slug.")
        load.add_argument(
            "--create",
            action="store_true",
            help="Create the project if it does not exist (named by the file's project.name).",
        )
        load.add_argument(
            "--replace",
            action="store_true",
            help="Delete the project's current phases, tasks and contracts and import these.",
        )

        dump = sub.add_parser("export", help="Print a project's plan as a plan file.")
        dump.add_argument("--project", required=True, help="The project's slug.")
        dump.add_argument(
            "--format",
            choices=["yaml", "json"],
            help="Output format (default: json for an --output ending in .json, else yaml).",
        )
        dump.add_argument("--output", help="Write to this file instead of standard output.")

        decompose = sub.add_parser(
            "decompose", help="Have the planning model decompose a description into a plan."
        )
        decompose.add_argument("--project", required=True, help="The project's slug.")
        decompose.add_argument(
            "--description-file",
            required=True,
            help="Text file describing what to build (features, stack, constraints).",
        )
        decompose.add_argument(
            "--create", action="store_true", help="Create the project if it does not exist."
        )
        decompose.add_argument(
            "--replace", action="store_true", help="Replace the project's current plan."
        )
        decompose.add_argument(
            "--model", help="Anthropic model id (default: PEERCODE_ANTHROPIC_MODEL)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            if action == "import":
                self._import(options)
            elif action == "export":
                self._export(options["project"], options["format"], options["output"])
            else:
                self._decompose(options)
        except PlanInvalid as exc:
            for error in exc.errors:
                self.stderr.write(str(error))
            source = exc.errors[0].source if exc.errors else "the plan"
            count = len(exc.errors)
            raise CommandError(
                f"{count} problem{'s' if count != 1 else ''} in {source}; nothing was imported."
            ) from exc
        except PeerCodeError as exc:
            raise CommandError(exc.message) from exc

    def _progress(self, message: str) -> None:
        self.stdout.write(f"  {message}")

    def _find(self, slug: str) -> Project | None:
        return Project.objects.filter(slug=slug).first()

    def _project(self, slug: str) -> Project:
        project = self._find(slug)
        if project is None:
            known = list(Project.objects.values_list("slug", flat=True)[:20])
            hint = f"existing projects: {', '.join(known)}" if known else "there are none yet"
            raise CommandError(f"No project {slug!r}. Check the slug ({hint}).")
        return project

    def _read_plan(self, file: str) -> PlanSpec:
        if file == "-":
            return load_plan_text(sys.stdin.read(), source="<stdin>")
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{file}: cannot read the plan file: {exc}") from exc
        return load_plan_text(text, source=file)

    def _import(self, options: dict[str, Any]) -> None:
        file, slug = options["file"], options["project"]
        started = time.monotonic()
        plan = self._read_plan(file)
        self.stdout.write(
            f"Validated {file}: {len(plan.phases)} phases, {len(plan.tasks)} tasks, "
            f"{len(plan.contracts)} contracts."
        )
        project = self._find(slug)
        if project is None and not options["create"]:
            raise CommandError(
                f"No project {slug!r}. Add --create to create it from the plan file, or check "
                "the slug."
            )
        if project is None:
            result = services.create_project_from_plan(
                slug=slug, plan=plan, actor=CLI_ACTOR, progress=self._progress
            )
            verb = "Created project"
        else:
            result = services.import_plan(
                project=project,
                plan=plan,
                actor=CLI_ACTOR,
                replace=options["replace"],
                progress=self._progress,
            )
            verb = "Replaced the plan of project" if result.tasks_replaced else "Imported into"
        seconds = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(f"{verb} {slug!r}: {result.summary()} in {seconds:.1f} s.")
        )

    def _export(self, slug: str, format: str | None, output: str | None) -> None:
        project = self._project(slug)
        chosen = format or ("json" if output and output.lower().endswith(".json") else "yaml")
        text = dump_plan_document(services.export_plan(project), format=chosen)
        if not output:
            self.stdout.write(text, ending="")
            return
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"{output}: cannot write the plan: {exc}") from exc
        self.stdout.write(self.style.SUCCESS(f"Wrote the plan of {slug!r} to {output} ({chosen})."))

    def _decompose(self, options: dict[str, Any]) -> None:
        # Imported here so that 'plan import' and 'plan export' don't depend on the planner.
        from projects.services.decomposition import decompose_project, require_api_key

        path = options["description_file"]
        try:
            description = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{path}: cannot read the description: {exc}") from exc
        slug = options["project"]
        project = self._find(slug)
        if project is None and not options["create"]:
            raise CommandError(f"No project {slug!r}. Add --create to create it first.")
        if project is None:
            # Without a key nothing would come of it: don't leave an empty project behind.
            try:
                require_api_key(project_slug=slug)
            except PeerCodeError as exc:
                raise CommandError(exc.message) from exc
            # Created on its own: the decomposition run is recorded against the project
            # whatever its outcome, so the project has to exist before the model is called.
            project = services.create_project(slug=slug, name=slug, actor=CLI_ACTOR)
            self.stdout.write(f"Created project {slug!r}.")
        extra = {"model": options["model"]} if options["model"] else {}
        run = decompose_project(
            project=project,
            description=description,
            actor=CLI_ACTOR,
            replace=options["replace"],
            progress=self._progress,
            **extra,
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Decomposition run {run.pk} ({run.model}) {run.outcome}: "
                f"{run.tasks_created} tasks created; {run.input_tokens} input and "
                f"{run.output_tokens} output tokens; {run.duration_ms / 1000:.1f} s."
            )
        )

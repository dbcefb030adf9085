"""Dashboard pages for humans: the project list and a project's roadmap."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from peercode.actors import Actor
from projects import selectors


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    projects = selectors.projects_for(Actor.for_user(request.user))
    return render(request, "projects/list.html", {"projects": projects})


@login_required
def project_detail(request: HttpRequest, slug: str) -> HttpResponse:
    project = selectors.get_project(slug=slug, actor=Actor.for_user(request.user))
    overview = selectors.plan_overview(project)
    wave_of = overview.analysis.wave_of()
    critical = set(overview.analysis.critical_path.keys)
    phases = [
        {
            "phase": entry.phase,
            "tasks": [
                {"task": task, "wave": wave_of.get(task.key), "critical": task.key in critical}
                for task in entry.tasks
            ],
        }
        for entry in overview.phases
    ]
    return render(
        request,
        "projects/detail.html",
        {
            "project": project,
            "phases": phases,
            "analysis": overview.analysis,
            "contracts": selectors.contracts_of(project),
        },
    )

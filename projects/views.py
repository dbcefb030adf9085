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
    analysis = selectors.analyse_plan(project)
    wave_of = analysis.wave_of()
    critical = set(analysis.critical_path.keys)
    phases = []
    tasks_by_phase: dict[int, list[dict[str, object]]] = {}
    for task in selectors.tasks_of(project):
        tasks_by_phase.setdefault(task.phase_id, []).append(
            {"task": task, "wave": wave_of.get(task.key), "critical": task.key in critical}
        )
    for phase in selectors.phases_of(project):
        phases.append({"phase": phase, "tasks": tasks_by_phase.get(phase.pk, [])})
    return render(
        request,
        "projects/detail.html",
        {
            "project": project,
            "phases": phases,
            "analysis": analysis,
            "contracts": selectors.contracts_of(project),
        },
    )

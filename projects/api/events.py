"""REST view of a project's event log (read-only: events are written only by services)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from peercode.api import PeerCodeView, actor_from_request, error_responses, parse_query
from peercode.events.selectors import events_of
from projects import selectors
from projects.api.projects import SLUG
from projects.api.serializers import EventFilter, EventOut


class EventListView(PeerCodeView):
    @extend_schema(
        tags=["events"],
        summary="A project's event log, oldest first",
        description=(
            "Every state change of the project, in the order it happened (newest last). "
            "Filter by exact type, subject or actor, and by time with since=<ISO 8601>."
        ),
        parameters=[SLUG, EventFilter],
        responses={200: EventOut(many=True), **error_responses(400, 404)},
    )
    def get(self, request: Request, slug: str) -> Response:
        project = selectors.get_project(slug=slug, actor=actor_from_request(request))
        filters = parse_query(EventFilter, request)
        return self.paginate(events_of(project, **filters), EventOut)

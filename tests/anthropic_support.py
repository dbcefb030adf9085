"""The Anthropic Messages API as tests meet it: the real ``anthropic`` SDK over an
``httpx2.MockTransport`` that answers with prepared responses and keeps every request, so tests
assert on what PeerCode sent. Shared by the decomposition and mediation tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anthropic
import httpx2

REQUEST_ID = "req_018EeWyXxfu5pfWkrYcMdjWG"


def error_answer(status: int, error_type: str, message: str) -> httpx2.Response:
    """An API error as Anthropic sends it."""
    return httpx2.Response(
        status,
        headers={"request-id": REQUEST_ID},
        json={
            "type": "error",
            "error": {"type": error_type, "message": message},
            "request_id": REQUEST_ID,
        },
    )


class MessagesApi:
    """Answers each request with the next prepared response, and keeps the requests."""

    def __init__(self, *answers: httpx2.Response | Callable[[httpx2.Request], httpx2.Response]):
        self.answers = list(answers)
        self.requests: list[httpx2.Request] = []

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        return answer(request) if callable(answer) else answer

    def client(self) -> anthropic.Anthropic:
        return anthropic.Anthropic(
            api_key="test-key",
            http_client=httpx2.Client(transport=httpx2.MockTransport(self.handle)),
            max_retries=0,
        )

    def body(self, index: int = 0) -> dict[str, Any]:
        return json.loads(self.requests[index].content)

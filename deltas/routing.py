"""The delta stream's WebSocket route, included by ``peercode.routing``."""

from __future__ import annotations

from typing import Any

from django.urls import path

from deltas.consumers import DeltaConsumer

websocket_urlpatterns: list[Any] = [
    path("ws/projects/<slug:slug>/", DeltaConsumer.as_asgi()),
]

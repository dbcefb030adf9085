"""Another server process revoking or rotating an agent's token, for the WebSocket tests.

Run as ``python -m tests.deltas.revoke_worker DB_NAME LAYER_PREFIX AGENT_ID revoke|rotate`` from
the repository root, with the parent's environment (so the same DATABASE_URL and REDIS_URL). It
points Django at the test database and the channel-layer prefix the parent uses, then revokes
or rotates through the service, as a human would through the admin of another process.
"""

from __future__ import annotations

import os
import sys


def main(db_name: str, layer_prefix: str, agent_id: int, action: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peercode.settings")
    import django
    from django.conf import settings

    # What the parent's test setup did: the test database's name, the test's own layer prefix.
    settings.DATABASES["default"]["NAME"] = db_name
    settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = layer_prefix
    django.setup()
    from django.db import connection

    from projects import services
    from projects.models import Agent
    from tests.factories import SYSTEM

    agent = Agent.objects.select_related("project").get(pk=agent_id)
    if action == "revoke":
        services.deactivate_agent(agent=agent, actor=SYSTEM)
    else:
        services.rotate_agent_token(agent=agent, actor=SYSTEM)
    connection.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])

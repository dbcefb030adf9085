"""The plan in the Django admin: every write goes through the services.

Adding or editing a project, agent, phase, task or contract calls the same service the API and
MCP tools call (see :mod:`projects.admin.service_admin`). Contract versions, planning runs and
events are history, and read-only.
"""

from django.contrib import admin

# Importing the modules registers their admins.
from projects.admin import contracts, decomposition, members, projects, tasks

admin.site.site_header = "PeerCode administration"
admin.site.site_title = "PeerCode admin"

__all__ = ["contracts", "decomposition", "members", "projects", "tasks"]

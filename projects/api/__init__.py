"""The plan's REST API under /api/v1/: thin views over projects.services and projects.selectors.

Each view parses its input with a strict serializer (unknown fields are refused), makes one
service or selector call, and renders an output serializer. Domain errors from the services
become JSON by ``peercode.errors.api_exception_handler``; nothing here decides a rule.
"""

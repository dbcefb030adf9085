"""The plan file format (docs/plan-format.md): parsing, validation and the exported document.

Pure: nothing here touches the database. A plan is read from YAML or JSON
(:mod:`~projects.plan_format.reading`), checked as a whole, with every problem collected and
each naming the file, the item and what is wrong (:mod:`~projects.plan_format.validation`), and
turned into frozen dataclasses (:mod:`~projects.plan_format.specs`) that
:mod:`projects.services.plan_import` writes in one transaction. :data:`PLAN_JSON_SCHEMA`
(:mod:`~projects.plan_format.schema`) describes the same document for the planning model, and
:mod:`~projects.plan_format.document` turns a plan back into that document.
"""

from projects.plan_format.document import dump_plan_document, plan_to_document
from projects.plan_format.reading import load_plan_text
from projects.plan_format.schema import (
    FORMAT_VERSION,
    IMPORTABLE_STATUSES,
    PLAN_JSON_SCHEMA,
)
from projects.plan_format.specs import (
    ContractSpec,
    PhaseSpec,
    PlanError,
    PlanInvalid,
    PlanSpec,
    ProjectSpec,
    TaskSpec,
    default_status,
)
from projects.plan_format.validation import validate_plan_document

__all__ = [
    "FORMAT_VERSION",
    "IMPORTABLE_STATUSES",
    "PLAN_JSON_SCHEMA",
    "ContractSpec",
    "PhaseSpec",
    "PlanError",
    "PlanInvalid",
    "PlanSpec",
    "ProjectSpec",
    "TaskSpec",
    "default_status",
    "dump_plan_document",
    "load_plan_text",
    "plan_to_document",
    "validate_plan_document",
]

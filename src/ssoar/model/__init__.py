"""The session model: sessions, participants, crossings and templates."""

from ssoar.model._crossing import (
    AttributeValue,
    Crossing,
    CrossingState,
    Decision,
    DenialReason,
    SourceRef,
    Target,
    UsageSource,
)
from ssoar.model._ledgers import Ledger
from ssoar.model._money import Money, parse_decimal
from ssoar.model._participant import Participant, ParticipantClass
from ssoar.model._session import CloseReason, Session, SessionState
from ssoar.model._template import (
    BUILTIN_TEMPLATES,
    CrossingKindSpec,
    Template,
    load_template,
)
from ssoar.model._time import format_time, parse_time, utc_now
from ssoar.model._usage import BREAKDOWN_FIELDS, PART_FIELDS, TokenUsage, UsageError

__all__ = [
    "BREAKDOWN_FIELDS",
    "BUILTIN_TEMPLATES",
    "PART_FIELDS",
    "AttributeValue",
    "CloseReason",
    "Crossing",
    "CrossingKindSpec",
    "CrossingState",
    "Decision",
    "DenialReason",
    "Ledger",
    "Money",
    "Participant",
    "ParticipantClass",
    "Session",
    "SessionState",
    "SourceRef",
    "Target",
    "Template",
    "TokenUsage",
    "UsageError",
    "UsageSource",
    "format_time",
    "load_template",
    "parse_decimal",
    "parse_time",
    "utc_now",
]

"""Importing traces of systems that had no booth, into settled sessions."""

from ssoar.ingest._pipeline import (
    IMPORT_FILE_SIZE_MAX,
    FileResult,
    ImportContext,
    ImportResult,
    SessionResult,
    import_files,
    read_spans,
)
from ssoar.ingest._profile import ImportProfile, ParticipantIntent, load_profile
from ssoar.ingest._sessions import DraftNote, SessionDraft, draft_sessions
from ssoar.ingest._spans import LangfuseFields, SpanEvent, SpanRecord

__all__ = [
    "IMPORT_FILE_SIZE_MAX",
    "DraftNote",
    "FileResult",
    "ImportContext",
    "ImportProfile",
    "ImportResult",
    "LangfuseFields",
    "ParticipantIntent",
    "SessionDraft",
    "SessionResult",
    "SpanEvent",
    "SpanRecord",
    "draft_sessions",
    "import_files",
    "load_profile",
    "read_spans",
]

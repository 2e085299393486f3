"""Sessions: the unit of value that crossings happen inside."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ssoar.model._time import format_time

__all__ = ["CloseReason", "Session", "SessionState"]


class SessionState(StrEnum):
    """Where a session is in its life."""

    OPEN = "open"
    CLOSING = "closing"
    SETTLED = "settled"
    """Closed, and every crossing reconciled."""
    SETTLED_UNCLEAN = "settled_unclean"
    """Closed with at least one exception, or closed by force."""


class CloseReason(StrEnum):
    """Why a session was closed."""

    CLOSED = "closed"
    """The owner closed it."""
    IMPORTED = "imported"
    """Imported history, settled as soon as it was read."""
    ERROR = "error"
    """The owner's code raised while the session was open."""
    SWEPT = "swept"
    """Idle or past its lifetime; the sweeper closed it."""


@dataclass(frozen=True, slots=True)
class Session:
    """A session: the container whose close settles every ledger at once."""

    session_id: str
    tenant: str
    template: str
    opened_at: datetime
    origin: str
    """``import`` for imported history, ``live`` for sessions run through the booth."""
    labels: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, object]:
        """Return the session as a JSON object."""
        return {
            "session_id": self.session_id,
            "tenant": self.tenant,
            "template": self.template,
            "opened_at": format_time(self.opened_at),
            "origin": self.origin,
            "labels": {key: value for key, value in self.labels},
        }

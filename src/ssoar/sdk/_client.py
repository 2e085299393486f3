"""``ssoar.connect``: reach a booth, in this process or over HTTP, and open sessions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ssoar.errors import CrossingDenied
from ssoar.live._engine import LiveBooth
from ssoar.live._wire import (
    GrantSpec,
    OpenSession,
    ParticipantSpec,
    QuotaSpec,
)
from ssoar.model._session import CloseReason
from ssoar.sdk._session import Session
from ssoar.sdk._transport import HttpTransport, LocalTransport, Transport

__all__ = ["Client", "connect"]


class Client:
    """A connection to a booth; open sessions with ``session``."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    @property
    def booth(self) -> LiveBooth | None:
        """The in-process booth, or None for a booth service."""
        if isinstance(self.transport, LocalTransport):
            return self.transport.booth
        return None

    def session(
        self,
        *,
        session_id: str | None = None,
        participants: Iterable[str | ParticipantSpec] = (),
        grants: Iterable[GrantSpec] = (),
        quotas: Iterable[QuotaSpec] = (),
        template: str | None = None,
        labels: Mapping[str, str] | None = None,
        allowed_jurisdictions: Sequence[str] | None = None,
        idle_timeout_seconds: int | None = None,
        max_lifetime_seconds: int | None = None,
        webhook_url: str | None = None,
    ) -> Session:
        """Open a session: admit its participants, issue its grants, open its quotas.

        Use the result as a context manager: leaving the block settles it.

        Raises:
            CrossingDenied: If the booth refused to admit a listed participant;
                the session is then closed at once, as unclean.
        """
        answer = self.transport.open_session(
            OpenSession(
                session_id=session_id,
                template=template,
                labels=dict(labels or {}),
                participants=[
                    item if isinstance(item, ParticipantSpec) else ParticipantSpec(item)
                    for item in participants
                ],
                grants=list(grants),
                quotas=list(quotas),
                allowed_jurisdictions=(
                    list(allowed_jurisdictions)
                    if allowed_jurisdictions is not None
                    else None
                ),
                idle_timeout_seconds=idle_timeout_seconds,
                max_lifetime_seconds=max_lifetime_seconds,
                webhook_url=webhook_url,
            )
        )
        session = Session(self.transport, answer)
        refused = [item for item in answer.participants if not item.allowed]
        if refused:
            # A session whose declared participants were refused cannot run
            # as declared: settle it now and say why.
            first = refused[0]
            session.close(
                reason=CloseReason.ERROR,
                error=f"the booth refused to admit {first.actor} when the session "
                "opened",
            )
            raise CrossingDenied(
                first.crossing_id,
                tuple((reason.code, reason.message) for reason in first.reasons),
                tuple(first.policy_ids),
            )
        return session

    def set_plan(self, quotas: Iterable[QuotaSpec]) -> list[QuotaSpec]:
        """Replace the tenant plan's quotas, shared by every new session."""
        return self.transport.set_plan(list(quotas))

    def sweep(self) -> list[dict[str, Any]]:
        """Close every expired session now (in-process booths only)."""
        booth = self.booth
        if booth is None:
            raise TypeError("a booth service sweeps on its own; sweep runs in process")
        return booth.sweep()

    def close(self) -> None:
        """Release the connection (and stop an in-process booth)."""
        self.transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def connect(
    url: str | None = None,
    *,
    api_key: str | None = None,
    db: str | Path | None = None,
    key_file: str | Path | None = None,
    tenant: str | None = None,
    booth: LiveBooth | None = None,
) -> Client:
    """Connect to a booth.

    With no ``url``, the booth runs in this process on an embedded SQLite
    file (``db``, default from ``SSOAR_DB`` or ``./ssoar.db``), for
    ``tenant`` (default from ``SSOAR_TENANT``). With an ``http://`` or
    ``https://`` url, the SDK talks to ``ssoar serve`` with ``api_key``,
    whose tenant the service knows.

    Examples::

        booth = ssoar.connect(db="ssoar.db", tenant="acme")
        booth = ssoar.connect("http://127.0.0.1:8700", api_key=key)
    """
    if url is not None:
        if api_key is None:
            raise ValueError(
                "a booth service needs an API key: pass api_key= (create one with "
                "'ssoar api-key create')"
            )
        return Client(HttpTransport(url, api_key))
    from ssoar.config._settings import load_settings

    if booth is not None:
        return Client(
            LocalTransport(booth, tenant or booth.settings.tenant, owned=False)
        )
    settings = load_settings(
        {
            "db": str(db) if db is not None else None,
            "key_file": str(key_file) if key_file is not None else None,
            "tenant": tenant,
        }
    )
    return Client(LocalTransport(LiveBooth(settings), settings.tenant, owned=True))

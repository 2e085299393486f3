"""The live booth's operations as coroutines, for an asyncio server."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ssoar.live._requests import CompletionReport, begin_request
from ssoar.live._tenants import ApiKey, create_key, revoke_key
from ssoar.live._wire import (
    AttemptReport,
    BeginCrossing,
    CompleteCrossing,
    CrossingAnswer,
    GrantSpec,
    OpenSession,
    ParticipantSpec,
    QuotaSpec,
    SessionAnswer,
)
from ssoar.model._session import CloseReason

if TYPE_CHECKING:
    from ssoar.live._engine import LiveBooth

__all__ = ["AsyncBooth"]


class AsyncBooth:
    """The live booth's operations for an asyncio server.

    Each operation runs on the group-commit writer thread; awaiting it
    returns once the answer is durable, and the event loop never waits for
    the disk. Requests are read, and responses built, on the event loop, while
    the writer runs the next batch.
    """

    def __init__(self, booth: LiveBooth) -> None:
        self._booth = booth
        self._call = booth.commit.call_async

    async def open_session(self, tenant: str, request: OpenSession) -> SessionAnswer:
        """See ``LiveBooth.open_session``."""
        booth = self._booth
        return await self._call(lambda: booth._open_session(tenant, request))

    async def admit(
        self, tenant: str, session_id: str, request: ParticipantSpec
    ) -> CrossingAnswer:
        """See ``LiveBooth.admit``."""
        booth = self._booth
        view = await self._call(lambda: booth._admit_op(tenant, session_id, request))
        return view.answer()

    async def issue_grant(
        self, tenant: str, session_id: str, request: GrantSpec
    ) -> dict[str, object]:
        """See ``LiveBooth.issue_grant``."""
        booth = self._booth
        return await self._call(lambda: booth._grant_op(tenant, session_id, request))

    async def begin(
        self, tenant: str, session_id: str, request: BeginCrossing
    ) -> CrossingAnswer:
        """See ``LiveBooth.begin``."""
        booth = self._booth
        request, key, fingerprint = begin_request(session_id, request)
        view = await self._call(
            lambda: booth._begin_op(tenant, session_id, request, key, fingerprint)
        )
        return view.answer()

    async def attempt(
        self, tenant: str, session_id: str, key: str, request: AttemptReport
    ) -> CrossingAnswer:
        """See ``LiveBooth.attempt``."""
        booth = self._booth
        view = await self._call(
            lambda: booth._attempt_op(tenant, session_id, key, request)
        )
        return view.answer()

    async def complete(
        self, tenant: str, session_id: str, key: str, request: CompleteCrossing
    ) -> CrossingAnswer:
        """See ``LiveBooth.complete``."""
        booth = self._booth
        report = CompletionReport.read(request)
        view = await self._call(
            lambda: booth._complete_op(tenant, session_id, key, request, report)
        )
        return view.answer()

    async def close_session(
        self, tenant: str, session_id: str, reason: CloseReason, error: str | None
    ) -> dict[str, Any]:
        """See ``LiveBooth.close_session``."""
        booth = self._booth
        return await self._call(
            lambda: booth._close_op(tenant, session_id, reason, error)
        )

    async def session(self, tenant: str, session_id: str) -> SessionAnswer:
        """See ``LiveBooth.session``."""
        booth = self._booth
        return await self._call(lambda: booth._session_op(tenant, session_id))

    async def crossing(self, tenant: str, session_id: str, key: str) -> CrossingAnswer:
        """See ``LiveBooth.crossing``."""
        booth = self._booth
        view = await self._call(lambda: booth._crossing_op(tenant, session_id, key))
        return view.answer()

    async def set_plan(
        self, tenant: str, quotas: Sequence[QuotaSpec]
    ) -> list[QuotaSpec]:
        """See ``LiveBooth.set_plan``."""
        booth = self._booth
        return await self._call(lambda: booth._set_plan_op(tenant, quotas))

    async def plan(self, tenant: str) -> list[QuotaSpec]:
        """See ``LiveBooth.plan``."""
        booth = self._booth
        return await self._call(lambda: booth._plan_specs(tenant))

    async def sweep(self) -> list[dict[str, Any]]:
        """See ``LiveBooth.sweep``; one batch of due sessions."""
        return await self._call(self._booth._sweep_op)

    async def create_key(
        self, tenant: str, scopes: tuple[str, ...], label: str
    ) -> ApiKey:
        """Create an API key for a tenant."""
        connection = self._booth.store.connection
        return await self._call(lambda: create_key(connection, tenant, scopes, label))

    async def revoke_key(self, tenant: str, key_id: str) -> bool:
        """Revoke one of a tenant's API keys."""
        connection = self._booth.store.connection
        return await self._call(lambda: revoke_key(connection, tenant, key_id))

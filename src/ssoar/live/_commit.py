"""Group commit: many callers' changes made durable by one commit.

Every change to the live ledgers runs as an operation inside a write
transaction, and its caller gets an answer only after that transaction has
committed (WAL, ``synchronous=FULL``). One fsync per operation would cap the
booth at the disk's sync rate, so operations that arrive while a commit is
in progress wait and then share the next one.

Threads use ``call``: the first caller to find no commit in progress leads,
running every waiting operation in one transaction, and the others wait for
it. An asyncio server uses ``call_async``, whose operations a writer thread
runs the same way, so the event loop never waits for the disk.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from ssoar.errors import BoothUnavailable, SsoarError

__all__ = ["GroupCommit", "Transactional"]

T = TypeVar("T")
_BATCH_SIZE_MAX = 512
"""Most operations one commit takes; later ones wait for the next."""


class Transactional(Protocol):
    """What group commit needs from the ledger it writes to."""

    def begin_batch(self) -> None:
        """Open a write transaction."""

    def commit_batch(self) -> None:
        """Write what the batch buffered and commit durably."""

    def rollback_batch(self) -> None:
        """Roll the transaction back and forget every cached state it touched."""

    def after_commit(self) -> None:
        """Run work that must follow a durable commit, such as notices."""


class _Operation(Generic[T]):
    __slots__ = ("done", "error", "function", "notify", "result")

    def __init__(
        self, function: Callable[[], T], notify: Callable[[], None] | None
    ) -> None:
        self.function = function
        self.result: T | None = None
        self.error: BaseException | None = None
        self.done = threading.Event() if notify is None else None
        self.notify = notify

    def finish(self) -> None:
        if self.notify is not None:
            self.notify()
        else:
            assert self.done is not None
            self.done.set()


class GroupCommit:
    """Runs operations in shared, durable transactions."""

    def __init__(self, ledger: Transactional) -> None:
        self._ledger = ledger
        self._leader = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[_Operation[Any]] = []
        self._wake = threading.Condition(self._queue_lock)
        self._writer: threading.Thread | None = None
        self._stopping = False
        self.batches = 0
        """Commits made so far: operations divided by this is the batch size."""
        self.operations = 0

    def call(self, function: Callable[[], T]) -> T:
        """Run ``function`` in a write transaction and return once it is durable.

        Raises:
            SsoarError: Whatever the operation raised.
            BoothUnavailable: If the transaction could not be committed.
        """
        operation: _Operation[T] = _Operation(function, None)
        with self._queue_lock:
            self._queue.append(operation)
        assert operation.done is not None
        while not operation.done.is_set():
            with self._leader:
                if not operation.done.is_set():
                    self._run_queue()
        if operation.error is not None:
            raise operation.error
        return operation.result  # type: ignore[return-value]

    async def call_async(self, function: Callable[[], T]) -> T:
        """Run ``function`` on the writer thread; resolve once it is durable."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def notify() -> None:
            loop.call_soon_threadsafe(_resolve, future, operation)

        operation: _Operation[T] = _Operation(function, notify)
        with self._wake:
            self._ensure_writer()
            self._queue.append(operation)
            self._wake.notify()
        return await future

    def stop(self) -> None:
        """Stop the writer thread after it has run what is queued."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._writer is not None:
            self._writer.join()
            self._writer = None

    def _ensure_writer(self) -> None:
        if self._writer is None:
            self._stopping = False
            self._writer = threading.Thread(
                target=self._write_loop, name="ssoar-ledger-writer", daemon=True
            )
            self._writer.start()

    def _write_loop(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self._stopping:
                    self._wake.wait()
                if not self._queue and self._stopping:
                    return
            with self._leader:
                self._run_queue()

    def _run_queue(self) -> None:
        """Run the queued operations in batches; the caller holds the leader lock."""
        while True:
            with self._queue_lock:
                batch = self._queue[:_BATCH_SIZE_MAX]
                del self._queue[: len(batch)]
            if not batch:
                return
            if not self._run_batch(batch):
                # The shared transaction failed: run each operation alone, so
                # one bad operation cannot fail the others.
                for operation in batch:
                    self._run_batch([operation])
            for operation in batch:
                operation.finish()

    def _run_batch(self, batch: list[_Operation[Any]]) -> bool:
        """Run a batch in one transaction; False when it had to be rolled back."""
        ledger = self._ledger
        try:
            ledger.begin_batch()
        except Exception as error:
            for operation in batch:
                operation.error = _unavailable(error)
            return True
        for operation in batch:
            try:
                operation.result = operation.function()
                operation.error = None
            except SsoarError as error:
                operation.error = error
            except Exception as error:
                ledger.rollback_batch()
                if len(batch) > 1:
                    return False
                operation.error = _unavailable(error)
                return True
        try:
            ledger.commit_batch()
        except Exception as error:
            ledger.rollback_batch()
            if len(batch) > 1:
                return False
            batch[0].error = _unavailable(error)
            return True
        self.batches += 1
        self.operations += len(batch)
        ledger.after_commit()
        return True


def _unavailable(error: BaseException) -> BoothUnavailable:
    unavailable = BoothUnavailable(
        f"the ledger could not be written ({type(error).__name__}: {error}); the "
        "booth refuses until it can record its answer"
    )
    unavailable.__cause__ = error
    return unavailable


def _resolve(future: asyncio.Future[Any], operation: _Operation[Any]) -> None:
    if future.cancelled():
        return
    if operation.error is not None:
        future.set_exception(operation.error)
    else:
        future.set_result(operation.result)

"""Group commit: many callers' changes made durable by one commit.

Every change to the live ledgers runs as an operation inside a write
transaction, and its caller gets an answer only after that transaction has
committed (WAL, ``synchronous=FULL``). One fsync per operation would cap the
booth at the disk's sync rate, so operations that arrive while a commit is
in progress wait and then share the next one. Before each commit the
leader waits a moment for the callers whose operations the last commit
finished, so that their next operations share it too.

One caller at a time leads. A thread that queues an operation when no one
leads becomes the leader: it runs every queued operation in one
transaction, commits, wakes the callers whose operations it ran, and goes
on with whatever queued meanwhile. Once its own operation is done it hands
the lead to the thread of the next queued operation, so no caller waits
behind others for long. An asyncio server uses ``call_async``: its
operations are led by a writer thread, so the event loop never waits for
the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from ssoar.errors import BoothUnavailable, SsoarError

__all__ = ["GroupCommit", "Transactional"]

T = TypeVar("T")
_LOG = logging.getLogger("ssoar.live")
_BATCH_SIZE_MAX = 256
"""Most operations one commit takes; later ones wait for the next."""
_GATHER_SECONDS = 0.0005
"""Maximum wait, in seconds, for callers of the last batch to queue again."""


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


_local = threading.local()


class _Wake:
    """A wake-up for one thread: a binary semaphore on a bare lock.

    ``threading.Event`` goes through a condition variable in Python code,
    and a leader wakes each caller of its batch while it holds the
    interpreter lock, so a bare lock's release is much cheaper. Only the
    leader wakes, one at a time, so the check before the release is safe.
    """

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()

    def wait(self) -> None:
        """Block until woken. A wake-up given earlier is taken at once."""
        self._lock.acquire()

    def set(self) -> None:
        """Wake the thread, unless a wake-up is already waiting for it."""
        if self._lock.locked():
            self._lock.release()


def _thread_wake() -> _Wake:
    """Return the calling thread's wake-up, made on its first call.

    A thread waits for one operation at a time, so one wake-up per thread
    serves all of its operations. A wake-up left over from an operation
    that had already finished is harmless: waiting loops until its own
    operation is finished.
    """
    wake: _Wake | None = getattr(_local, "wake", None)
    if wake is None:
        wake = _local.wake = _Wake()
    return wake


class _Operation(Generic[T]):
    __slots__ = ("error", "finished", "function", "lead", "notify", "result", "wake")

    def __init__(
        self, function: Callable[[], T], notify: Callable[[], None] | None
    ) -> None:
        self.function = function
        self.result: T | None = None
        self.error: BaseException | None = None
        self.finished = False
        self.lead = False
        """Set when this operation's thread is to lead the next batches."""
        self.notify = notify
        """For asynchronous callers: resolves their future; None for threads."""
        self.wake = _thread_wake() if notify is None else None

    def wake_caller(self) -> None:
        """Tell the caller its operation is finished: resolve its future or wake it."""
        if self.notify is not None:
            self.notify()
        else:
            assert self.wake is not None
            self.wake.set()


class GroupCommit:
    """Runs operations in shared, durable transactions."""

    def __init__(self, ledger: Transactional) -> None:
        self._ledger = ledger
        self._lock = threading.Lock()
        self._queue: list[_Operation[Any]] = []
        self._leading = False
        self._writer: threading.Thread | None = None
        self._writer_wake = threading.Event()
        self._writer_leads = False
        """Set, under the lock, when the lead is handed to the writer thread."""
        self._stopping = False
        self._woken = 0
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
        with self._lock:
            self._queue.append(operation)
            if not self._leading:
                self._leading = True
                operation.lead = True
        wake = operation.wake
        assert wake is not None
        while not operation.finished:
            if operation.lead:
                self._lead(operation)
            else:
                wake.wait()
        if operation.error is not None:
            raise operation.error
        return operation.result  # type: ignore[return-value]

    async def call_async(self, function: Callable[[], T]) -> T:
        """Run ``function`` on the writer thread; resolve once it is durable."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def notify() -> None:
            # The caller's event loop may have closed while it waited. Then no
            # one takes the result, and the leader goes on with the others.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, future, operation)

        operation: _Operation[T] = _Operation(function, notify)
        wake = False
        with self._lock:
            self._ensure_writer()
            self._queue.append(operation)
            if not self._leading:
                self._leading = True
                self._writer_leads = True
                wake = True
        if wake:
            self._writer_wake.set()
        return await future

    def stop(self) -> None:
        """Stop the writer thread after it has run what is queued."""
        writer = self._writer
        if writer is None:
            return
        self._stopping = True
        self._writer_wake.set()
        writer.join()
        self._writer = None
        self._stopping = False

    def _ensure_writer(self) -> None:
        if self._writer is None or not self._writer.is_alive():
            self._writer = threading.Thread(
                target=self._write_loop, name="ssoar-ledger-writer", daemon=True
            )
            self._writer.start()

    def _write_loop(self) -> None:
        while True:
            self._writer_wake.wait()
            self._writer_wake.clear()
            with self._lock:
                leads, self._writer_leads = self._writer_leads, False
            if leads:
                try:
                    self._lead(None)
                except BaseException:
                    # _lead has rejected the batch and passed the lead on. The
                    # writer stays up, because the event loop relies on it.
                    _LOG.exception("an operation on the ledger writer failed")
            if self._stopping:
                with self._lock:
                    if not self._queue or self._leading:
                        return

    def _lead(self, own: _Operation[Any] | None) -> None:
        """Run batches until the queue is empty, or hand the lead on.

        The caller has been given the lead (``_leading`` is set for it).
        """
        if own is not None:
            own.lead = False
        while True:
            self._gather()
            with self._lock:
                batch = self._queue[:_BATCH_SIZE_MAX]
                del self._queue[: len(batch)]
                if not batch:
                    self._leading = False
                    return
            try:
                self._run(batch)
            except BaseException as error:
                # Such as KeyboardInterrupt in the leading thread. The others
                # must not wait for a leader that is gone, so fail their
                # operations, pass the lead on and re-raise here.
                self._abandon(batch, own, error)
                raise
            self._woken = len(batch)
            for operation in batch:
                if operation is own:
                    continue
                operation.wake_caller()
            if own is not None and own.finished:
                self._hand_on()
                return

    def _abandon(
        self,
        batch: list[_Operation[Any]],
        own: _Operation[Any] | None,
        error: BaseException,
    ) -> None:
        """Fail the operations of an unfinished batch, and pass the lead on."""
        # The transaction may be gone with the error. Nothing was committed.
        with contextlib.suppress(Exception):
            self._ledger.rollback_batch()
        for operation in batch:
            operation.error = _unavailable(error)
            operation.finished = True
            if operation is own:
                continue
            operation.wake_caller()
        self._hand_on()

    def _gather(self) -> None:
        """Wait a moment for the callers of the last batch to queue again.

        Callers that share a commit tend to come back together. Without this
        wait, the next commit takes only those that queued while the last
        one ran, and under steady load the callers split into two groups that
        alternate, each paying for its own sync. Releasing the interpreter
        lock for up to ``_GATHER_SECONDS`` lets them queue, and one commit
        takes them all. A leader with nothing queued does not wait, and
        neither does one caller after a batch of one.

        NOTE: a caller that comes alone after a larger batch waits once, up
        to ``_GATHER_SECONDS``, for callers that may not come back.
        """
        expected = min(self._woken, _BATCH_SIZE_MAX)
        if not self._queue or len(self._queue) >= expected:
            return
        deadline = time.perf_counter() + _GATHER_SECONDS
        while len(self._queue) < expected and time.perf_counter() < deadline:
            time.sleep(0)

    def _hand_on(self) -> None:
        """Give the lead to the next queued operation's thread, or end it."""
        with self._lock:
            if not self._queue:
                self._leading = False
                return
            successor = self._queue[0]
            if successor.wake is None:
                # An asynchronous operation: the writer thread leads it.
                self._ensure_writer()
                self._writer_leads = True
                self._writer_wake.set()
                return
            successor.lead = True
            successor.wake.set()

    def _run(self, batch: list[_Operation[Any]]) -> None:
        if not self._run_batch(batch):
            # The shared transaction failed: run each operation alone, so
            # one bad operation cannot fail the others.
            for operation in batch:
                self._run_batch([operation])
        for operation in batch:
            operation.finished = True

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

"""Group commit keeps running when a caller or an operation goes away."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

import pytest

from ssoar.errors import BoothUnavailable
from ssoar.live._commit import GroupCommit

RESULT_TIMEOUT_SECONDS = 5.0


class Ledger:
    """A ledger that commits nothing and counts rollbacks."""

    def __init__(self) -> None:
        self.rollbacks = 0

    def begin_batch(self) -> None:
        pass

    def commit_batch(self) -> None:
        pass

    def rollback_batch(self) -> None:
        self.rollbacks += 1

    def after_commit(self) -> None:
        pass


def finishes_later(commit: GroupCommit) -> bool:
    """Check that a new operation finishes within RESULT_TIMEOUT_SECONDS."""
    done = threading.Event()

    def call() -> None:
        commit.call(lambda: None)
        done.set()

    threading.Thread(target=call, daemon=True).start()
    return done.wait(RESULT_TIMEOUT_SECONDS)


def test_closed_event_loop_caller() -> None:
    commit = GroupCommit(Ledger())
    slow = threading.Thread(target=commit.call, args=(lambda: time.sleep(0.3),))
    slow.start()
    time.sleep(0.05)

    async def impatient() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(commit.call_async(lambda: "late"), 0.05)

    asyncio.run(impatient())
    slow.join()
    assert finishes_later(commit)
    commit.stop()


class Interrupted(BaseException):
    """Stands in for KeyboardInterrupt raised while an operation runs."""


def interrupt() -> None:
    raise Interrupted


def test_interrupted_operation_fails_batch() -> None:
    ledger = Ledger()
    commit = GroupCommit(ledger)
    with pytest.raises(Interrupted):
        commit.call(interrupt)
    assert ledger.rollbacks == 1
    assert finishes_later(commit)


def test_interrupted_leader_frees_others() -> None:
    commit = GroupCommit(Ledger())
    started = threading.Event()
    errors: list[BaseException] = []

    def lead() -> None:
        def slow_then_interrupt() -> None:
            started.set()
            time.sleep(0.2)
            raise Interrupted

        with contextlib.suppress(Interrupted):
            commit.call(slow_then_interrupt)

    def follow() -> None:
        try:
            commit.call(lambda: None)
        except BoothUnavailable as error:
            errors.append(error)

    leader = threading.Thread(target=lead)
    leader.start()
    started.wait(RESULT_TIMEOUT_SECONDS)
    follower = threading.Thread(target=follow)
    follower.start()
    leader.join(RESULT_TIMEOUT_SECONDS)
    follower.join(RESULT_TIMEOUT_SECONDS)
    assert not follower.is_alive()
    assert errors == []
    assert finishes_later(commit)

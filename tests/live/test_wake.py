"""The wake-up a leader of group commit gives a waiting caller."""

from __future__ import annotations

import threading

from ssoar.live._commit import _Wake


def wait_in_thread(wake: _Wake) -> threading.Thread:
    thread = threading.Thread(target=wake.wait, daemon=True)
    thread.start()
    return thread


def test_wait_blocks_until_set() -> None:
    wake = _Wake()
    thread = wait_in_thread(wake)
    thread.join(timeout=0.05)
    assert thread.is_alive()
    wake.set()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_set_before_wait_is_kept() -> None:
    wake = _Wake()
    wake.set()
    thread = wait_in_thread(wake)
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_two_sets_wake_once() -> None:
    wake = _Wake()
    wake.set()
    wake.set()
    wake.wait()
    thread = wait_in_thread(wake)
    thread.join(timeout=0.05)
    assert thread.is_alive()
    wake.set()
    thread.join(timeout=5)
    assert not thread.is_alive()

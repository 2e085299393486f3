"""WAL checkpoints off the commit path.

SQLite copies the write-ahead log back into the database file at a
checkpoint. By default the connection that commits runs it, inside the
commit, whenever the log passes 1,000 pages: with 16 KiB pages that copies
16 MiB and syncs it while every caller of the batch waits. The live booth
turns that off on its writing connection and runs passive checkpoints from
this thread instead. A passive checkpoint never blocks writers; the log
file is reused from its start once a checkpoint has copied all of it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

__all__ = ["Checkpointer"]

_LOG = logging.getLogger("ssoar.checkpoint")
_INTERVAL_SECONDS = 0.5


class Checkpointer:
    """Runs passive WAL checkpoints of one database from a background thread."""

    def __init__(self, path: Path, *, interval: float = _INTERVAL_SECONDS) -> None:
        self._path = path
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="ssoar-checkpoint", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread after one last checkpoint."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        connection = sqlite3.connect(self._path, isolation_level=None, timeout=10)
        try:
            while not self._stop.wait(self._interval):
                self._checkpoint(connection)
            self._checkpoint(connection)
        finally:
            connection.close()

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as error:
            # The next round retries; the log only grows meanwhile.
            _LOG.warning("checkpoint of %s failed: %s", self._path, error)

"""The shared SQLite file's writers: threads of one process take turns without SQLite's busy
handler (which sleeps a millisecond or more before it looks again)."""

from __future__ import annotations

import threading
from pathlib import Path

from tether.adapters.sqlite.database import SqliteDatabase
from tether.domain.errors import BackendUnavailable

THREADS = 8
WRITES = 300


def test_writer_threads_of_one_process_never_find_the_file_locked(tmp_path: Path) -> None:
    # No busy timeout at all: a writer that found the file locked by another thread would
    # fail at once (BackendUnavailable) instead of waiting.
    database = SqliteDatabase(tmp_path / "store.sqlite3", busy_timeout_ms=0)
    with database.write() as db:
        db.execute("CREATE TABLE counted (thread INTEGER, n INTEGER)")
    failures: list[BackendUnavailable] = []
    start = threading.Barrier(THREADS)

    def writer(thread: int) -> None:
        start.wait()
        for n in range(WRITES):
            try:
                if n % 2:
                    database.insert("INSERT INTO counted VALUES (?, ?)", (thread, n))
                else:
                    with database.write() as db:  # a longer hold of the file's lock
                        db.execute("INSERT INTO counted VALUES (?, ?)", (thread, n))
                        db.execute("SELECT count(*) FROM counted").fetchone()
            except BackendUnavailable as exc:
                failures.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (count,) = database.db().execute("SELECT count(*) FROM counted").fetchone()
    database.close()
    assert failures == []
    assert count == THREADS * WRITES


def test_a_write_inside_a_write_of_the_same_thread_does_not_wait_for_itself(
    tmp_path: Path,
) -> None:
    database = SqliteDatabase(tmp_path / "store.sqlite3")
    with database.write() as db:
        db.execute("CREATE TABLE t (v INTEGER)")
    done = threading.Event()

    def nested() -> None:
        with database.write() as db:
            db.execute("INSERT INTO t VALUES (1)")
            database.insert("INSERT INTO t VALUES (2)", ())  # same connection, same transaction
        done.set()

    worker = threading.Thread(target=nested, daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert done.is_set()
    assert database.db().execute("SELECT count(*) FROM t").fetchone() == (2,)
    database.close()

"""One process trains a run at a time. A retry clicked in the UI while the worker still reports the previous
attempt (Prefect can mark a just-retried flow run Crashed for a moment) must not start a second trainer on the same
checkpoints: the second one stops with a clear error instead. The lock is an flock on RUN_DIR/flow.lock, released
by the kernel when its process dies, so a killed run never leaves a stale lock behind. `waiting_for` is the same
kind of lock, waited for: the store's migrations take it so that one process makes the tables at a time."""
import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

from phaselog.core.errors import PhaselogError


@contextmanager
def hold_run(run_dir: Path, run_id: str):
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "flow.lock"
    with open(path, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            raise PhaselogError(f"run {run_id} is being trained by another process (pid {lock.read().strip() or '?'}, "
                                f"lock {path}); wait for it to end or cancel it, then resume") from None
        lock.truncate(0)
        lock.write(str(os.getpid()))
        lock.flush()
        yield


@contextmanager
def waiting_for(path: Path):
    """An flock on `path` (made when missing), waited for as long as another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or by the kernel when the process dies
        yield

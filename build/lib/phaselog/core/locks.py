"""One process trains a run at a time. A retry clicked in the UI while the worker still reports the previous
attempt (Prefect can mark a just-retried flow run Crashed for a moment) must not start a second trainer on the same
checkpoints: the second one stops with a clear error instead. The lock is an flock on RUN_DIR/flow.lock, released
by the kernel when its process dies, so a killed run never leaves a stale lock behind."""
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

"""One process trains a run at a time. A retry clicked in the UI while the worker still reports the previous
attempt (Prefect can mark a just-retried flow run Crashed for a moment) must not start a second trainer on the same
checkpoints: the second one stops with a clear error instead. The lock is an flock on RUN_DIR/flow.lock, released
by the kernel when its process dies, so a killed run never leaves a stale lock behind. `waiting_for` is the same
kind of lock on a folder, waited for: the store's migrations take it on the store's folder, so that one
process makes the tables at a time."""
import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

from phaselog.core.errors import PhaselogError


def trainer_of(run_dir: Path) -> str | None:
    """The pid of the process training the run in `run_dir` now, None when no process is (a run killed while
    training still says `running` in the store: its lock went with its process)."""
    path = run_dir / "flow.lock"
    if not path.is_file():
        return None
    with open(path, "r") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)  # released when the file closes
        except BlockingIOError:
            return lock.read().strip() or "?"
    return None


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
def waiting_for(folder: Path):
    """An flock on `folder` itself (made when missing), waited for as long as another process holds it: nothing is
    left behind. A file system that cannot lock a folder (NFS) locks FOLDER/.phaselog.lock instead."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released when closed, or by the kernel when the process dies
        except OSError:
            os.close(fd)
            fd = os.open(folder / ".phaselog.lock", os.O_RDWR | os.O_CREAT)
            fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError as err:
        raise PhaselogError(f"cannot use the folder {folder}: {err.strerror}") from None
    try:
        yield
    finally:
        os.close(fd)

"""Human journal entries from the exploration server, with one store writer at a time. Each entry is first a file in
the inbox (phaselog.journal.queue_entry: nothing is lost on a crash), then drained into the store with a short
wait. While a live run holds the store the entry stays queued: a background thread retries every few seconds,
and the flow process drains the inbox itself. Plain files and a thread; no FastAPI here."""
import threading
import time
from pathlib import Path


from phaselog.core.errors import StoreHeld
from phaselog.core.journal import drain_inbox, inbox_entries, queue_entry
from phaselog.core.store import Store


def queued_entries(home: Path, run_id: str) -> list[dict]:
    """A run's entries still waiting in the inbox, shaped like journal rows with queued=True, in step order."""
    rows = [{**entry, "queued": True} for _, entry in inbox_entries(home) if entry["run_id"] == run_id]
    return sorted(rows, key=lambda e: (e["step"], e["created_at"]))


class Inbox:
    def __init__(self, home: Path, retry_seconds: float = 3.0, attempts: int = 3):
        self.store = Store(home)
        self.retry_seconds = retry_seconds
        self.attempts = attempts  # x 0.1 s: a request waits at most this long for the store
        self.guard = threading.Lock()
        self.retrying: threading.Thread | None = None

    def submit(self, entry: dict) -> bool:
        """Queue the entry and try to write it now. True: still queued, because another process holds the store."""
        queue_entry(self.store.home, entry)
        if self.drain():
            return False
        with self.guard:
            if self.retrying is None or not self.retrying.is_alive():
                self.retrying = threading.Thread(target=self.retry_until_drained, name="journal-inbox", daemon=True)
                self.retrying.start()
        return True

    def drain(self) -> bool:
        """True when the inbox was written out (or was empty)."""
        try:
            drain_inbox(self.store, self.attempts)
        except StoreHeld:
            return False
        return True

    def retry_until_drained(self) -> None:
        while True:
            time.sleep(self.retry_seconds)
            # under the guard: a submit that fails now either sees this thread alive or starts the next one
            with self.guard:
                if self.drain():
                    self.retrying = None
                    return

"""`phaselog data download`: the demo corpus from Project Gutenberg, by eBook number, into a local cache.
Needs internet; without it, point PHASELOG_CORPUS at a local copy (the files are the same books)."""
import urllib.error
import urllib.request
from pathlib import Path

from phaselog.core.errors import PhaselogError

DEMO_BOOKS = {
    "general": {11: "alice", 1342: "pride-and-prejudice", 1661: "sherlock-holmes"},
    "philosophy": {2680: "meditations", 4363: "beyond-good-and-evil", 5827: "problems-of-philosophy"},
}
URL = "https://www.gutenberg.org/cache/epub/{n}/pg{n}.txt"


def download_demo_corpus(dest: Path, timeout: float = 30.0) -> Path:
    for folder, books in DEMO_BOOKS.items():
        (dest / folder).mkdir(parents=True, exist_ok=True)
        for number, title in books.items():
            target = dest / folder / f"pg{number}-{title}.txt"
            if target.is_file() and target.stat().st_size:
                continue
            try:
                with urllib.request.urlopen(URL.format(n=number), timeout=timeout) as response:
                    data = response.read()
            except (urllib.error.URLError, OSError) as err:
                raise PhaselogError(f"could not fetch eBook #{number} ({err}); without internet, set "
                                    "PHASELOG_CORPUS to a local folder with general/ and philosophy/ texts") from None
            tmp = target.with_name(target.name + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(target)
    return dest

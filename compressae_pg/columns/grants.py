"""Least privilege: grant a role that owns its tables (not a superuser) what this package needs.

Searching needs nothing: the ``compressae`` schema, its models, atoms and attachments are readable
by PUBLIC and its functions executable by PUBLIC, so SELECT on the table is enough. Attaching and
backfilling write ``compressae.attachments`` and the checkpoints; training writes the models.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from .. import _sql


def grant(conn: psycopg.Connection, role: str, *, train: bool = False) -> list[str]:
    """Grant ``role`` what attach, backfill, index (and with ``train``, train and drop models) need; return what was granted."""
    ident, grantee = sql.Identifier(role), sql.Literal(role)
    done = ["operate"]
    with conn.transaction():
        conn.execute(_sql.query("grant_operate", role=ident, grantee=grantee))
        if train:
            conn.execute(_sql.query("grant_train", role=ident, grantee=grantee))
            done.append("train")
        if conn.execute(_sql.query("schema_state")).fetchone()[1] is not None:
            conn.execute(_sql.query("grant_version", role=ident))
    return done

"""Models in the database: ``compressae.models`` (weights, metadata) and the atoms tables.

A model is named ``name`` (its newest version) or ``name@version``. Saving a name that exists
makes a new version. ``compressae.encoder_atoms`` and ``compressae.decoder_atoms`` (joined in the
view ``compressae.atoms``) hold every atom's encoder row and bias and its decoder row as pgvector
``vector``s, so that SQL functions can encode and decode without Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from . import _sql
from .errors import InvalidModelNameError, ModelInUseError, ModelOwnerError, UnknownModelError
from .server import takes_database

SAVE_TRIES = 5  # versions tried when other sessions store the same name at once

if TYPE_CHECKING:
    from .model import CompresSAE


@dataclass(frozen=True)
class ModelInfo:
    """One stored model version."""

    id: int
    name: str
    version: int
    dim: int
    h: int
    k: int
    source: str | None
    params: dict[str, Any]
    metrics: dict[str, Any]
    created_at: datetime

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def bytes_per_row(self) -> int:
        """Size of one stored code: pgvector's sparsevec header plus index and value per non-zero."""
        return 16 + 8 * self.k

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "version": self.version,
            "ref": self.ref,
            "dim": self.dim,
            "h": self.h,
            "k": self.k,
            "bytes_per_row": self.bytes_per_row,
            "source": self.source,
            "params": self.params,
            "metrics": self.metrics,
            "created_at": self.created_at.isoformat(),
        }


def check_name(name: str) -> str:
    """A model name is any non-empty text of at most 200 characters without '@' (or NUL, which text cannot hold)."""
    if not isinstance(name, str) or not name or "@" in name or "\x00" in name or len(name) > 200:
        raise InvalidModelNameError(f"invalid model name {name!r}: use 1-200 characters, no '@' (that separates a version) "
                                    "and no NUL")
    return name


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``"name"`` → (name, None); ``"name@3"`` → (name, 3)."""
    if not isinstance(ref, str) or not ref:
        raise UnknownModelError("a model name is required")
    name, sep, version = ref.rpartition("@")
    if not sep:
        return ref, None
    if not version.isdigit() or not name:
        raise UnknownModelError(f"invalid model reference {ref!r}: expected name or name@version")
    return name, int(version)


def save(
    conn: psycopg.Connection,
    name: str,
    model: CompresSAE,
    *,
    source: str | None = None,
    params: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> ModelInfo:
    """Store ``model`` as the next version of ``name`` with its atoms, in one transaction.

    Two saves of one name at once take the next two versions: the second's version is taken again when the first's
    commits (the unique key on name and version), with no lock that another role could hold to stall it.
    """
    check_name(name)
    for _ in range(SAVE_TRIES - 1):
        try:
            return _save(conn, name, model, source, params, metrics)
        except psycopg.errors.UniqueViolation as exc:
            if exc.diag.constraint_name != "models_name_version_key":
                raise
    return _save(conn, name, model, source, params, metrics)


def _save(conn: psycopg.Connection, name: str, model: CompresSAE, source: str | None, params: dict[str, Any] | None,
          metrics: dict[str, Any] | None) -> ModelInfo:
    weights = model.to_bytes()
    enc = model.encoder.detach().cpu().numpy()
    bias = model.encoder_bias.detach().cpu().numpy()
    dec = model.decoder.detach().cpu().numpy()
    with conn.transaction(), conn.cursor() as cur:
        _check_owner(cur, name, "add a version to")
        (info,) = _infos(conn, "model_insert", {
            "name": name, "dim": model.dim, "h": model.h, "k": model.k, "refit": model.encoding.refit,
            "pursuit": model.encoding.pursuit, "source": source, "params": Jsonb(params or {}),
            "metrics": Jsonb(metrics or {}), "weights": weights})
        if model.encoding.stages > 1:  # a one-stage model is stored as at every revision since 0001 (the column's default)
            cur.execute(_sql.query("model_stages"), {"id": info.id, "stages": model.encoding.stages})
        cur.execute(_sql.query("atoms_stage"))
        with cur.copy(_sql.query("encoder_atoms_copy")) as copy:
            copy.set_types(["int8", "int4", "float4", "vector"])
            for i in range(model.h):
                copy.write_row((info.id, i, float(bias[i]), enc[i]))
        with cur.copy(_sql.query("decoder_atoms_copy")) as copy:
            copy.set_types(["int8", "int4", "vector"])
            for i in range(model.h):
                copy.write_row((info.id, i, dec[i]))
        cur.execute(_sql.query("atoms_insert"))
    return info


def _check_owner(cur: psycopg.Cursor, name: str, action: str) -> None:
    """ModelOwnerError unless the current role acts for the owner of every stored version of ``name``."""
    others = cur.execute(_sql.query("model_owner"), {"name": name}).fetchall()
    if others:
        roles = ", ".join(f"{role} (dropped)" if dropped else role for role, dropped in others)
        literal = name.replace("'", "''")
        hint = (f"; or a superuser gives the name to a role: UPDATE compressae.models SET owner = '<role>' WHERE name = '{literal}'"
                if any(dropped for _role, dropped in others) else "")
        raise ModelOwnerError(f"model {name!r} belongs to role {roles}: only it may {action} it; choose another name{hint}")


def get(conn: psycopg.Connection, ref: str) -> ModelInfo:
    """The model named by ``ref``; UnknownModelError if there is none."""
    name, version = parse_ref(ref)
    found = _infos(conn, "model_find", {"name": name, "version": version})
    if not found:
        known = ", ".join(sorted({m.name for m in _list_models(conn)})) or "none"
        what = f"{name!r} version {version}" if version else repr(name)
        raise UnknownModelError(f"no model {what} in compressae.models (known: {known})")
    return found[0]


def load(conn: psycopg.Connection, ref: str) -> tuple[ModelInfo, CompresSAE]:
    """The model named by ``ref`` and its weights, ready for inference (eval mode)."""
    from .model import CompresSAE

    info = get(conn, ref)
    (weights,) = conn.execute(_sql.query("model_weights"), {"id": info.id}).fetchone()
    model = CompresSAE.from_bytes(bytes(weights))
    model.eval()
    return info, model


def _list_models(conn: psycopg.Connection, name: str | None = None) -> list[ModelInfo]:
    """All stored model versions (or all versions of ``name``), oldest first."""
    return _infos(conn, "model_list", {"name": name})


def _infos(conn: psycopg.Connection, query: str, params: dict[str, Any]) -> list[ModelInfo]:
    """The ModelInfo of each row of ``query``, read by column name (the .sql file's column order is no contract)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return [ModelInfo(**row) for row in cur.execute(_sql.query(query), params).fetchall()]


def _drop_model(conn: psycopg.Connection, ref: str) -> list[ModelInfo]:
    """Delete a model version (``name@v``) or every version of ``name``; refused while attached."""
    name, version = parse_ref(ref)
    victims = [get(conn, ref)] if version else _list_models(conn, name)
    if not victims:
        get(conn, ref)  # raises UnknownModelError with the known names
    with conn.transaction(), conn.cursor() as cur:
        _check_owner(cur, name, "drop")
        for info in victims:
            users = [r[0] for r in conn.execute(_sql.query("model_users"), {"id": info.id}).fetchall()]
            if users:
                raise ModelInUseError(
                    f"model {info.ref} is used by {', '.join(users)}; drop those compressed columns first "
                    "(their tables' owners can)"
                )
            conn.execute(_sql.query("model_delete"), {"id": info.id})
    return victims


list_models = takes_database(_list_models, "list_models")
drop_model = takes_database(_drop_model, "drop_model")

"""Name the atoms by the rows that use them: label an attachment's atoms, read the labels, browse one atom.

A code is k atoms out of h, and each atom is a direction the model learned from the table's own rows: the
rows with its largest values say what it stands for. :func:`label_atoms` streams the code column in keyset
batches of the primary key (one short read each, never the whole column), keeps per atom its count, its sum
of values and its ``top`` largest values with their keys (and texts), and stores every atom's label in
``compressae.atom_labels`` in one short transaction, replacing the model version's previous ones.
:meth:`CompressedColumn.explain <compressae_pg.CompressedColumn.explain>` shows them beside each atom.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from .. import _catalog, _sql, _wire
from .._attachment import Attachment
from .._defaults import ATOM_ROWS, BATCH_SIZE, LABEL_ROWS, LOCK_TIMEOUT
from .._sql import Statement, cursor
from ..errors import NoLabelsError, RowSecurityError
from ..server import takes_database
from .column import CompressedColumn
from .explain import Label


@dataclass(frozen=True)
class AtomLabels:
    """An attachment's stored labels: one :class:`~compressae_pg.search.explain.Label` per atom of its model."""

    table: str
    code_column: str
    model: str
    text_column: str | None
    rows: int  # rows with a code that the labels were computed from
    computed_at: datetime | None
    top: int  # the most rows an atom's label keeps (label_atoms' ``top``)
    atoms: tuple[Label, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"table": self.table, "code_column": self.code_column, "model": self.model, "text_column": self.text_column,
                "rows": self.rows, "computed_at": None if self.computed_at is None else self.computed_at.isoformat(), "top": self.top,
                "atoms": [a.as_dict() for a in self.atoms]}


@dataclass(frozen=True)
class AtomRow:
    """A row that uses an atom: its key (as text), its value at the atom, and its text column's value."""

    key: str
    value: float
    text: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value, "text": self.text}


class _Tally:
    """Per atom: rows using it, the sum of their values, and the ``top`` largest values with their keys and texts.

    The top entries are kept as flat arrays (atom, value, row number, key, text); each batch is merged in by one
    sort on (atom, value descending, row number), which keeps a bounded top-``top`` per atom with ties going to
    the row first in key order.
    """

    def __init__(self, h: int, top: int) -> None:
        self.h, self.top, self.rows = h, top, 0
        self.uses = np.zeros(h, dtype=np.int64)
        self.sums = np.zeros(h, dtype=np.float64)
        self.atoms = np.zeros(0, dtype=np.int64)
        self.values = np.zeros(0, dtype=np.float32)
        self.order = np.zeros(0, dtype=np.int64)
        self.keys = np.zeros(0, dtype=object)
        self.texts = np.zeros(0, dtype=object)

    def add(self, keys: list[str], raws: list[bytes], texts: list[str | None]) -> None:
        codes = _wire.sparse_rows(raws)
        row = np.repeat(np.arange(len(keys)), codes.lengths)
        self.uses += np.bincount(codes.indices, minlength=self.h)
        self.sums += np.bincount(codes.indices, weights=codes.values.astype(np.float64), minlength=self.h)
        atoms = np.concatenate([self.atoms, codes.indices])
        values = np.concatenate([self.values, codes.values])
        order = np.concatenate([self.order, self.rows + row])
        picked = np.lexsort((order, -values, atoms))
        first = np.searchsorted(atoms[picked], atoms[picked], side="left")
        picked = picked[np.arange(len(picked)) - first < self.top]
        self.atoms, self.values, self.order = atoms[picked], values[picked], order[picked]
        self.keys = np.concatenate([self.keys, np.array(keys, dtype=object)[row]])[picked]
        self.texts = np.concatenate([self.texts, np.array(texts, dtype=object)[row]])[picked]
        self.rows += len(keys)

    def labels(self, with_texts: bool) -> list[Label]:
        starts = np.searchsorted(self.atoms, np.arange(self.h + 1))
        out = []
        for j in range(self.h):
            lo, hi = starts[j], starts[j + 1]
            uses = int(self.uses[j])
            out.append(Label(j, uses, float(self.sums[j] / uses) if uses else None, tuple(self.keys[lo:hi].tolist()),
                             tuple(float(v) for v in self.values[lo:hi]),
                             tuple(self.texts[lo:hi].tolist()) if with_texts else None))
        return out


def _text_column(conn: psycopg.Connection, target: Attachment, text_column: str | None) -> sql.Composable:
    """The text column's value as text (format's %1$s: its type's output function, never a cast), or NULL without one; an unknown column is named."""
    if text_column is None:
        return sql.NULL
    _catalog.resolve_column(conn, target.table, text_column)
    return sql.SQL("pg_catalog.format('%1$s', t.{})").format(sql.Identifier(text_column))


def _positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer (got {value!r})")


def _rows(conn: psycopg.Connection, target: Attachment, query: sql.Composable) -> list[tuple]:
    cur = cursor(conn, Statement(query, binary=True), target.oids)
    try:
        return cur.execute(query, binary=True).fetchall()
    finally:
        cur.close()


def _label_atoms(conn: psycopg.Connection, table: str, column: str, *, code_column: str | None = None, text_column: str | None = None,
            top: int = LABEL_ROWS, batch_size: int = BATCH_SIZE) -> AtomLabels:
    """Label every atom of the model of ``table.column``'s code column from the table's rows; store and return the labels.

    Each atom's label: how many rows use it, their mean value, and the ``top`` rows with its largest values (keys,
    and ``text_column``'s values when given). The code column is read in keyset batches of ``batch_size`` rows;
    the labels replace the ones stored for the same attachment and model version.
    """
    _positive("top", top)
    _positive("batch_size", batch_size)
    target = CompressedColumn(conn, table, column, code_column=code_column).target
    secured = conn.execute(_sql.query("labels_row_security"), {"table": target.table.oid}).fetchone()
    if secured and secured[0]:
        raise RowSecurityError(f"{target.qualified} has row-level security on: its atom labels would show every role that may "
                               f"read it the top rows of all its rows, those its policies hide included; they are not computed")
    text = _text_column(conn, target, text_column)
    tally, lo = _Tally(target.model.h, top), None
    while True:
        batch = _rows(conn, target, _sql.query("labels_batch", key=target.key.ident, code=sql.Identifier(target.code_column),
                                               text=text, table=target.table.ident,
                                               lo=sql.Literal(lo), limit=sql.Literal(batch_size)))
        if not batch:
            break
        tally.add([r[0] for r in batch], [r[1] for r in batch], [r[2] for r in batch])
        lo = batch[-1][0]
    atoms = tally.labels(text_column is not None)
    payload = json.dumps([{"idx": a.atom, "uses": a.uses, "mean_value": a.mean_value, "top_keys": list(a.keys),
                           "top_values": list(a.values), "top_texts": None if a.texts is None else list(a.texts)} for a in atoms])
    with conn.transaction():
        conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))
        conn.execute(_sql.query("labels_write"), {"attachment": target.id, "model": target.model.id,
                                                  "text_column": text_column, "rows": tally.rows, "labels": payload})
    return _atom_labels(conn, table, column, code_column=code_column)


def _atom_labels(conn: psycopg.Connection, table: str, column: str, *, code_column: str | None = None) -> AtomLabels:
    """The labels stored for ``table.column``'s current model; :class:`~compressae_pg.errors.NoLabelsError` when there are none."""
    target = CompressedColumn(conn, table, column, code_column=code_column).target
    params = {"attachment": target.id, "model": target.model.id}
    meta = conn.execute(_sql.query("labels_meta"), params).fetchone()
    if meta is None:
        raise NoLabelsError(f"no atom labels of model {target.model.ref} are stored for {target.qualified}.{target.code_column} "
                            f"(or you may not read them): run `compressae-pg atoms --table {target.qualified} --column {target.source_column}`")
    rows = conn.execute(_sql.query("labels_read"), {**params, "atoms": None}).fetchall()
    return AtomLabels(target.qualified, target.code_column, target.model.ref, meta[0], meta[1], meta[2], meta[3],
                      tuple(Label.from_row(r) for r in rows))


def settings(conn: psycopg.Connection, table: str, column: str, *, code_column: str | None = None) -> dict[str, Any] | None:
    """How the current model's stored labels were computed (``text_column`` and ``top``, as :func:`label_atoms` takes them), or None."""
    target = CompressedColumn(conn, table, column, code_column=code_column).target
    meta = conn.execute(_sql.query("labels_meta"), {"attachment": target.id, "model": target.model.id}).fetchone()
    return None if meta is None else {"text_column": meta[0], "top": max(meta[3], 1)}


def _atom_rows(conn: psycopg.Connection, table: str, column: str, atom: int, *, code_column: str | None = None,
            text_column: str | None = None, top: int = ATOM_ROWS) -> list[AtomRow]:
    """The ``top`` rows that use ``atom`` (0-based), the largest values first, with ``text_column``'s values: a scan of the code column."""
    _positive("top", top)
    target = CompressedColumn(conn, table, column, code_column=code_column).target
    if isinstance(atom, bool) or not isinstance(atom, int) or not 0 <= atom < target.model.h:
        raise ValueError(f"atom must be an integer from 0 to {target.model.h - 1} (model {target.model.ref} has {target.model.h} atoms; got {atom!r})")
    unit = sql.SQL("{}::{}").format(sql.Literal(f"{{{atom + 1}:1}}/{target.model.h}"), sql.Identifier(target.vector_schema, "sparsevec"))
    rows = _rows(conn, target, _sql.query("atom_rows", key=target.key.ident, code=sql.Identifier(target.code_column),
                                          ops=sql.Identifier(target.vector_schema), unit=unit,
                                          text=_text_column(conn, target, text_column),
                                          table=target.table.ident, limit=sql.Literal(top)))
    return [AtomRow(k, float(v), t) for k, v, t in rows]


label_atoms = takes_database(_label_atoms, "label_atoms")
atom_labels = takes_database(_atom_labels, "atom_labels")
atom_rows = takes_database(_atom_rows, "atom_rows")

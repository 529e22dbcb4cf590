"""Why a row scores what it does: the reconstructed rerank's score of a row split by atom, with the atoms' labels.

:func:`explanation` is :func:`.plans.rank`'s arithmetic for one row, kept apart by atom; :func:`row_code` is the
statement that reads what it needs, and :func:`labelled` the plan that adds each listed atom's stored label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from psycopg import sql

from .. import _residual, _sql, _wire
from .._attachment import Attachment
from .._sql import Plan, Statement
from .codes import Weights


@dataclass(frozen=True)
class Label:
    """What an atom means in one table (``compressae.atom_labels``): how many rows use it, their mean value, and
    the rows with its largest values (keys as text; the text column's values when the labels were computed with one)."""

    atom: int
    uses: int
    mean_value: float | None
    keys: tuple[str, ...]
    values: tuple[float, ...]
    texts: tuple[str | None, ...] | None = None

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Label:
        """A label from a ``labels_read`` row ``(idx, uses, mean_value, top_keys, top_values, top_texts)``."""
        idx, uses, mean, keys, values, texts = row
        return cls(idx, uses, mean, tuple(keys), tuple(values), None if texts is None else tuple(texts))

    def as_dict(self) -> dict[str, Any]:
        return {"atom": self.atom, "uses": self.uses, "mean_value": self.mean_value, "keys": list(self.keys),
                "values": list(self.values), "texts": None if self.texts is None else list(self.texts)}


@dataclass(frozen=True)
class Contribution:
    """One atom's part of a row's score: the query's weight on it (q̂·d_j), the row's value s_j, and their product
    (scaled by the residual sketch's factor where the row has one); ``label`` is the atom's stored label, if any."""

    atom: int
    query_weight: float
    row_value: float
    contribution: float
    label: Label | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"atom": self.atom, "query_weight": self.query_weight, "row_value": self.row_value, "contribution": self.contribution,
                "label": None if self.label is None else self.label.as_dict()}


@dataclass(frozen=True)
class Explanation:
    """Why a row scores what it does for a query under the reconstructed rerank (``compressae.explain``).

    ``score`` is the sum of every atom's contribution and the residual's; ``atoms`` are the ``top`` largest
    contributions (by size), ``residual`` the residual sketch's term (None when the row has none), and
    ``share`` the part of ``score`` that the listed atoms carry (0 when the score is 0).
    """

    key: Any
    score: float
    atoms: tuple[Contribution, ...]
    residual: float | None
    share: float

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "score": self.score, "atoms": [a.as_dict() for a in self.atoms],
                "residual": self.residual, "share": self.share}


def row_code(target: Attachment, key: Any) -> Statement:
    """The statement that reads one row's code and residual sketch by its primary key."""
    residual = sql.Identifier(target.residual_column) if target.residual_column else sql.SQL("NULL::varbit")
    return Statement(_sql.query("search_explain", code=sql.Identifier(target.code_column), residual=residual,
                                table=target.table.ident,
                                key=target.key.ident, item=sql.Literal(key)), binary=True)


def explanation(target: Attachment, model: Weights, unit: np.ndarray, key: Any, raw: Any, packed: bytes | None,
                top: int | None) -> Explanation:
    """The reconstructed rerank's score of one row (:func:`rank`'s arithmetic), split by atom: ``c·s_j·(q̂·d_j)``."""
    code = _wire.sparse_rows([raw])
    weights = model.project(unit[None, :])[0].astype(np.float64)[code.indices]
    values = code.values.astype(np.float64)
    base = float(weights @ values)
    c, residual = 1.0, None
    found = _residual.unpack_sized([packed], target.model.dim, target.residual_planes)[1] if target.residual_column else None
    if found is not None:  # else the code's score, as in rank
        c = float(found.c[0])
        residual = float(found.scores(unit, np.array([base]))[0]) - c * base
    parts = c * values * weights
    order = sorted(range(len(parts)), key=lambda i: (-abs(parts[i]), int(code.indices[i])))
    atoms = tuple(Contribution(int(code.indices[i]), float(weights[i]), float(values[i]), float(parts[i])) for i in order)
    score = float(parts.sum()) + (residual or 0.0)
    listed = atoms[:top]
    share = sum(a.contribution for a in listed) / score if score else 0.0
    return Explanation(key, score, listed, residual, share)


def labelled(target: Attachment, found: Sequence[Explanation]) -> Plan[list[Explanation]]:
    """``found`` with each listed atom's stored label (None where there is none), read in one statement."""
    atoms = sorted({a.atom for e in found for a in e.atoms})
    if not atoms:
        return list(found)
    rows = yield Statement(_sql.query("labels_read"), {"attachment": target.id, "model": target.model.id, "atoms": atoms})
    labels = {r[0]: Label.from_row(r) for r in rows}
    return [replace(e, atoms=tuple(replace(a, label=labels.get(a.atom)) for a in e.atoms)) for e in found]

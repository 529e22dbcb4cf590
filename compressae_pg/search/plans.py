"""The search itself, written once for the sync and the async front doors.

Each step is a *plan*: a generator that yields the :class:`~compressae_pg._sql.Statement` (or the
:class:`~compressae_pg._sql.Batch` of statements) it needs run and receives their rows, so :mod:`.column` (psycopg ``Connection``) and
:mod:`.async_column` (``AsyncConnection``) only differ in how they execute statements.

A search asks the attachment's HNSW index for ``candidates`` rows, then reranks them in numpy
(:mod:`.rerank`). The index is over the sketch column (graph ``sketch``, the default): the sign bits
of each row's vector, probed by Hamming distance with the query's own sign bits, so the query needs
no encoding at all, only its projection on the atoms for the asymmetric rerank. An attachment with
graph ``sparse`` is probed with the query's code by sparse cosine (the paper's path). The settings
and every query's candidates go out as one batch: one round trip.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

import numpy as np
import psycopg
from psycopg import sql
from psycopg.pq import Format

from .. import _attachment, _catalog, _residual, _sql, _vectors, _wire
from .._attachment import Attachment
from .._codes import Codes, sketch_bits
from .._defaults import CANDIDATES, EF_SEARCH_FLOOR, EXPLAIN_ATOMS, RERANK, RERANK_MODES, K
from .._sql import Batch, Plan, Statement
from ..errors import CompressaeError, InvalidVectorError, StaleAttachmentError, UnknownKeyError, UnknownModelError, UnknownTableError
from . import rerank
from .codes import Weights
from .explain import Explanation, explanation, labelled, row_code

T = TypeVar("T")
MAX_EF_SEARCH = 1000  # pgvector's limit for hnsw.ef_search


@dataclass(frozen=True)
class Hit:
    """One search result: the row's primary key and its score (a cosine: higher is nearer)."""

    key: Any
    score: float
    explanation: Explanation | None = None  # with search(..., explain=True): the atoms that carry the score

    def as_dict(self) -> dict[str, Any]:
        found = {"key": self.key, "score": self.score}
        return found if self.explanation is None else {**found, "explanation": self.explanation.as_dict()}


@dataclass(frozen=True)
class Options:
    """How one search runs; see :meth:`CompressedColumn.search <compressae_pg.CompressedColumn.search>`."""

    k: int = K
    candidates: int = CANDIDATES
    rerank: str = RERANK
    where: sql.Composable | Mapping[str, Any] | None = None
    ef_search: int | None = None

    def __post_init__(self) -> None:
        for name in ("k", "candidates"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer (got {value!r})")
        if self.rerank not in RERANK_MODES:
            raise ValueError(f"rerank must be one of {', '.join(RERANK_MODES)} (got {self.rerank!r})")
        ef = self.ef_search
        if ef is not None and (isinstance(ef, bool) or not isinstance(ef, int) or not 1 <= ef <= MAX_EF_SEARCH):
            raise ValueError(f"ef_search must be an integer from 1 to {MAX_EF_SEARCH} (got {ef!r})")
        if self.where is not None and not isinstance(self.where, (sql.Composable, Mapping)):
            raise TypeError("where must be psycopg.sql (e.g. sql.SQL('price < {}').format(sql.Literal(10))) or a "
                            f"mapping of column to value, not {type(self.where).__name__}: plain strings are not spliced into SQL")

    @property
    def limit(self) -> int:
        """Rows to fetch from the index: ``candidates``, and never fewer than ``k``."""
        return max(self.candidates, self.k)

    @property
    def hnsw_ef_search(self) -> int:
        return self.ef_search or min(max(self.limit, EF_SEARCH_FLOOR), MAX_EF_SEARCH)


@dataclass(frozen=True)
class Query:
    """One query, ready to search: the index probe (sign bits, or its code), its vector and the rerank projection."""

    bits: str | None  # the sketch as bit text ('0110…'): the sketch graph's probe (None on the sparse graph)
    indices: np.ndarray | None  # the query's code (the sparse graph's probe, and the symmetric rerank's)
    values: np.ndarray | None
    vector: np.ndarray | None = None
    projection: np.ndarray | None = None
    exclude: tuple[Any] | None = None  # (key,) of a row left out of the results


# ---- resolving a column -------------------------------------------------------------------------
def resolve(table: str, column: str, code_column: str | None = None) -> Plan[Attachment]:
    """The attachment of ``table.column`` (by :func:`compressae_pg._attachment.resolve`); ``column`` may also name the
    code column itself. Search results need the table's single-column primary key. A superuser does not search a table
    another role owns (:func:`compressae_pg._catalog.owner_code`)."""
    if not isinstance(table, str) or not table or not isinstance(column, str) or not column:
        raise UnknownTableError("a table and a column name are required")
    found = yield from _attachment.resolve(table, column, code_column=code_column)
    found.key  # noqa: B018 (the primary-key rule raises NoPrimaryKeyError here, not at the first search)
    yield from _catalog.owner_code(found.table, writes=False)
    return found


_MODELS: WeakKeyDictionary[Any, dict[int, Weights]] = WeakKeyDictionary()


def load_model(conn: Any, target: Attachment) -> Plan[Weights]:
    """The attachment's model: from the connection's cache, else its weights read once."""
    model = _MODELS.get(conn, {}).get(target.model.id)
    if model is None:
        rows = yield Statement(_sql.query("model_weights"), {"id": target.model.id})
        if not rows:
            raise UnknownModelError(f"model {target.model.ref} of {target.qualified}.{target.code_column} is gone")
        model = Weights.from_bytes(bytes(rows[0][0]))
        _MODELS.setdefault(conn, {})[target.model.id] = model
    return model


# ---- queries ------------------------------------------------------------------------------------
def checked(model: Weights, vectors: np.ndarray, target: Attachment) -> None:
    """Refuse query vectors of the wrong dimension (naming the column's), NaN, Inf and zero vectors."""
    if vectors.ndim != 2 or vectors.shape[1] != model.dim:
        got = vectors.shape[-1] if vectors.ndim else 0
        raise InvalidVectorError(f"the query has {got} dimensions, but {target.qualified}.{target.code_column} "
                                 f"holds codes of {model.dim}-dimensional vectors (model {target.model.ref})")
    _vectors.check(vectors, model.dim)  # NaN, Inf and zero vectors are refused by name


def encode(model: Weights, vectors: np.ndarray, mode: str, target: Attachment) -> list[Query]:
    """The queries' probes (sign bits; a code only where the graph or the rerank needs one) and rerank projections."""
    checked(model, vectors, target)
    codes = model.compress(vectors) if target.needs_codes or mode == "symmetric" else None
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    bits = [None] * len(unit) if target.needs_codes else sketch_bits(unit, target.sketch_planes)  # the sparse graph probes with the code
    return _queries(model, codes, bits, unit, mode)


def _queries(model: Weights, codes: Codes | None, bits: Sequence[str | None], vectors: Sequence[np.ndarray | None],
             mode: str, exclude: tuple[Any] | None = None) -> list[Query]:
    if mode == "reconstructed":
        projections = model.project(np.stack(vectors))
    elif mode == "symmetric":
        rec = model.decompress(codes)
        projections = model.project(rec / np.linalg.norm(rec, axis=1, keepdims=True))
    else:
        projections = [None] * len(bits)
    return [Query(bits[i], codes.indices[i] if codes else None, codes.values[i] if codes else None,
                  vectors[i], projections[i], exclude) for i in range(len(bits))]


def item(target: Attachment, model: Weights, key: Any, mode: str) -> Plan[Query]:
    """The stored code (and source vector) of the row with primary key ``key``, as a query."""
    source = sql.SQL(", {}").format(sql.Identifier(target.source_column)) if target.source else sql.SQL("")
    sketch = sql.SQL(", {}::text").format(sql.Identifier(target.sketch_column)) if target.sketch_column else sql.SQL("")
    rows = yield Statement(_sql.query("search_item", code=sql.Identifier(target.code_column), source=source, sketch=sketch,
                                      table=target.table.ident,
                                      key=target.key.ident, item=sql.Literal(key)), binary=True)
    if not rows:
        raise UnknownKeyError(f"no row of {target.qualified} has {target.key.name} = {key!r}")
    raw, *rest = rows[0]
    bits = rest.pop(0) if target.sketch_column else None
    vector = rest.pop(0) if target.source else None
    code = _wire.sparse_rows([raw]) if raw is not None else None
    if code is None or not len(code.indices):
        raise CompressaeError(f"row {key!r} of {target.qualified} has no code in {target.code_column} yet (run the backfill)")
    if mode in ("reconstructed", "dense") and (vector is None or not np.any(vector)):
        raise CompressaeError(f"rerank={mode!r} needs the source vector of row {key!r}, and {target.qualified}."
                              f"{target.source_column} has none; use rerank='symmetric' or 'none'")
    if not target.needs_codes and bits is None:
        raise CompressaeError(f"row {key!r} of {target.qualified} has no sketch in {target.sketch_column} yet (run the backfill)")
    codes = Codes(code.indices[None, :], code.values[None, :], target.model.h)
    unit = None if vector is None else vector / np.linalg.norm(vector)
    return _queries(model, codes, [bits], [unit], mode, exclude=(key,))[0]


# ---- the search ---------------------------------------------------------------------------------
def where_sql(where: sql.Composable | Mapping[str, Any] | None) -> sql.Composable:
    """A filter as SQL: composed SQL as given, or ``column = value`` pairs (None → IS NULL, a list → IN)."""
    if where is None:
        return sql.SQL("TRUE")
    if isinstance(where, sql.Composable):
        return where
    terms = []
    for column, value in where.items():
        col = sql.Identifier(column)
        if value is None:
            terms.append(sql.SQL("{} IS NULL").format(col))
        elif isinstance(value, (list, tuple, set, frozenset)):
            terms.append(sql.SQL("{} = ANY ({})").format(col, sql.Literal(list(value))))
        else:
            terms.append(sql.SQL("{} = {}").format(col, sql.Literal(value)))
    return sql.SQL(" AND ").join(terms) if terms else sql.SQL("TRUE")


def code_text(query: Query, target: Attachment) -> str:
    """The query's code as ``sparsevec`` text (1-based indices)."""
    entries = ",".join(f"{i + 1}:{float(v)!r}" for i, v in zip(query.indices.tolist(), query.values) if v != 0)
    return f"{{{entries}}}/{target.model.h}"


def _binary_key(oid: int) -> bool:
    return psycopg.adapters.get_loader(oid, Format.BINARY) is not None


def candidates(target: Attachment, query: Query, opts: Options) -> Statement:
    """The statement that fetches a query's candidates through the HNSW index (one text per column and filter)."""
    if opts.rerank == "dense" and target.source is None:
        raise CompressaeError(f"rerank='dense' needs the source column {target.source_column!r}, "
                              f"which {target.qualified} no longer has")
    probe = code_text(query, target) if target.needs_codes else query.bits
    params = [probe, opts.limit, target.id]
    if opts.where is None and query.exclude is None:  # the common case: compose its text once per column
        return Statement(_plain_candidates(target, opts.rerank), params, binary=True, raw=True)
    return Statement(_candidates_sql(target, opts.rerank, opts.where, query.exclude), params, binary=True, raw=True)


_PLAIN: dict[tuple, sql.SQL] = {}


def _plain_candidates(target: Attachment, rerank: str) -> sql.SQL:
    """:func:`_candidates_sql` without a filter, composed once per attachment, its names and the rerank."""
    key = (target.id, target.table.schema, target.table.name, target.code_column, target.sketch_column,
           target.residual_column, target.source_column, target.key.name, target.key_oid, target.vector_schema, target.graph,
           target.sketch_planes, target.model.dim, rerank)  # the planes and dimension size the probe's bit(n)
    if key not in _PLAIN:
        _PLAIN[key] = sql.SQL(_candidates_sql(target, rerank, None, None).as_string(None))
    return _PLAIN[key]


def _candidates_sql(target: Attachment, rerank: str, where: Any, exclude: tuple[Any] | None) -> sql.Composed:
    extra = []
    if rerank in ("reconstructed", "symmetric"):
        extra.append(sql.Identifier(target.code_column))
    if rerank == "reconstructed" and target.residual_column:
        extra.append(sql.Identifier(target.residual_column))
    if rerank == "dense":
        extra.append(sql.Identifier(target.source_column))
    key = target.key.ident
    condition = where_sql(where)
    if exclude is not None:
        condition = sql.SQL("({}) AND {} IS DISTINCT FROM {}").format(condition, key, sql.Literal(exclude[0]))
    if target.needs_codes:
        graph, op, probe_type = target.code_column, "<=>", sql.Identifier(target.vector_schema, "sparsevec")
    else:
        # The sketch column's own type, bit(n): against varbit an operator planted for (bit, varbit) would win.
        graph, op = target.sketch_column, "<~>"
        probe_type = sql.SQL("pg_catalog.bit({})").format(sql.Literal(target.sketch_planes * target.model.dim))
    return _sql.query(
        "search_candidates",
        key=key if _binary_key(target.key_oid) else sql.SQL("pg_catalog.format('%1$s', {})").format(key),
        graph=sql.Identifier(graph), op=sql.SQL(op), probe_type=probe_type,
        code=sql.Identifier(target.code_column), ops=sql.Identifier(target.vector_schema),
        extra=sql.SQL("").join(sql.SQL(", {}").format(e) for e in extra),
        table=target.table.ident, filter=condition,
    )


def rank(target: Attachment, query: Query, rows: list[tuple], opts: Options) -> list[Hit]:
    """Rerank one query's candidate rows ``(key, distance, model_id, extra...)`` and keep the best k."""
    if rows and rows[0][2] != target.model.id:
        raise StaleAttachmentError(f"{target.qualified}.{target.code_column} now holds codes of another model")
    if opts.rerank == "dense":
        rows = [r for r in rows if r[3] is not None and len(r[3]) == len(query.vector)]
    keys = [r[0] for r in rows]
    if opts.rerank == "none" and not target.needs_codes:  # the sign bits' cosine: 1 - 2 hamming / d
        scores = 1.0 - 2.0 * np.array([r[1] for r in rows], dtype=np.float64) / (target.sketch_planes * target.model.dim)
    elif opts.rerank == "none":
        scores = 1.0 - np.array([r[1] for r in rows], dtype=np.float64)
    elif opts.rerank == "dense":
        scores = rerank.cosine(query.vector, np.stack([r[3] for r in rows])) if rows else np.zeros(0)
    else:
        scores = rerank.code_scores(query.projection, _wire.sparse_rows([r[3] for r in rows]))
        if opts.rerank == "reconstructed" and target.residual_column:
            scores = _with_residuals(target, query, rows, scores)
    return [Hit(keys[i], float(scores[i])) for i in rerank.top(scores, opts.k)]


def _with_residuals(target: Attachment, query: Query, rows: list[tuple], scores: np.ndarray) -> np.ndarray:
    """``c · (q · x̂) + a · (q · L)`` for the candidates that have a residual sketch (of the attachment's size); q · x̂ for the rest."""
    have, found = _residual.unpack_sized([r[4] for r in rows], target.model.dim, target.residual_planes)
    if found is not None:
        scores = scores.astype(np.float64)
        scores[have] = found.scores(query.vector, scores[have])
    return scores


def search(target: Attachment, queries: Sequence[Query], opts: Options) -> Plan[list[list[Hit]]]:
    """Candidates and rerank for each query: the settings and every query's candidates in one batch."""
    settings = Statement(_sql.query("search_settings"), [str(opts.hnsw_ef_search)], raw=True)
    rows = yield Batch((settings, *(candidates(target, q, opts) for q in queries)))
    return [rank(target, q, r, opts) for q, r in zip(queries, rows[1:])]


# ---- what the front doors run -------------------------------------------------------------------
Call = Callable[[Attachment, Weights], Plan[T]]


def searching(queries: Any, opts: Options, *, single: bool = False, explain: bool | int = False) -> Call[list[list[Hit]]]:
    """The plan of a search for ``queries`` (one vector with ``single``), once the column is resolved;
    with ``explain`` each hit carries its :class:`Explanation` (True: ``EXPLAIN_ATOMS`` atoms, a number: that many)."""
    vectors = _vectors.as_array(queries)
    if single and len(vectors) != 1:
        raise ValueError(f"search takes one query vector (got {len(vectors)}); use search_many for several")
    if explain is not False and (not isinstance(explain, int) or explain < 1):
        raise ValueError(f"explain must be True, False or a positive number of atoms (got {explain!r})")
    if explain and opts.rerank != "reconstructed":
        raise ValueError(f"explain explains the reconstructed rerank's score (got rerank={opts.rerank!r})")
    top = EXPLAIN_ATOMS if explain is True else explain

    def plan(target: Attachment, model: Weights) -> Plan[list[list[Hit]]]:
        found = encode(model, vectors, opts.rerank, target)
        results = yield from search(target, found, opts)
        if explain:
            results = yield from explained(target, model, [q.vector for q in found], results, top)
        return results

    return plan


def similar(key: Any, opts: Options) -> Call[list[list[Hit]]]:
    """The plan of an item-to-item search from the row whose primary key is ``key``."""

    def plan(target: Attachment, model: Weights) -> Plan[list[list[Hit]]]:
        query = yield from item(target, model, key, opts.rerank)
        return (yield from search(target, [query], opts))

    return plan


def explaining(query: Any, key: Any, top: int | None = EXPLAIN_ATOMS) -> Call[Explanation]:
    """The plan of :meth:`CompressedColumn.explain <compressae_pg.CompressedColumn.explain>`: the row's code and residual, split."""
    vectors = _vectors.as_array(query)
    if len(vectors) != 1:
        raise ValueError(f"explain takes one query vector (got {len(vectors)})")
    if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
        raise ValueError(f"top must be a positive integer or None (got {top!r})")

    def plan(target: Attachment, model: Weights) -> Plan[Explanation]:
        checked(model, vectors, target)
        rows = yield row_code(target, key)
        if not rows:
            raise UnknownKeyError(f"no row of {target.qualified} has {target.key.name} = {key!r}")
        if rows[0][0] is None:
            raise CompressaeError(f"row {key!r} of {target.qualified} has no code in {target.code_column} yet (run the backfill)")
        found = explanation(target, model, vectors[0] / np.linalg.norm(vectors[0]), key, *rows[0], top)
        return (yield from labelled(target, [found]))[0]

    return plan


def explained(target: Attachment, model: Weights, units: Sequence[np.ndarray], results: list[list[Hit]],
              top: int | None) -> Plan[list[list[Hit]]]:
    """Each hit with its explanation: every hit's code in one batch, then the listed atoms' labels in one read.

    A hit whose row was deleted (or lost its code) since the search keeps ``explanation=None``.
    """
    hits = [(i, h) for i, found in enumerate(results) for h in found]
    if not hits:
        return results
    rows = yield Batch(tuple(row_code(target, h.key) for _, h in hits))
    have = [n for n, r in enumerate(rows) if r and r[0][0] is not None]
    found = yield from labelled(target, [explanation(target, model, units[hits[n][0]], hits[n][1].key, *rows[n][0], top)
                                         for n in have])
    why = dict(zip(have, found))
    out: list[list[Hit]] = [[] for _ in results]
    for n, (i, h) in enumerate(hits):
        out[i].append(replace(h, explanation=why.get(n)))
    return out


def nothing(target: Attachment, model: Weights) -> Plan[None]:
    """A plan that only resolves the column and loads its model."""
    yield from ()

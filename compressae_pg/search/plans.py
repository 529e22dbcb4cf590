"""The search itself, written once for the sync and the async front doors.

Each step is a *plan*: a generator that yields the :class:`Statement` (or the :class:`Batch` of
statements) it needs run and receives their rows, so :mod:`.column` (psycopg ``Connection``) and
:mod:`.async_column` (``AsyncConnection``) only differ in how they execute statements.

A search asks the attachment's HNSW index for ``candidates`` rows, then reranks them in numpy
(:mod:`.rerank`). The index is over the sketch column (graph ``sketch``, the default): the sign bits
of each row's vector, probed by Hamming distance with the query's own sign bits, so the query needs
no encoding at all, only its projection on the atoms for the asymmetric rerank. An attachment with
graph ``sparse`` is probed with the query's code by sparse cosine (the paper's path). The settings
and every query's candidates go out as one batch: one round trip.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

import numpy as np
import psycopg
from psycopg import sql
from psycopg.pq import Format

from .. import _residual, _sql, _vectors, _wire
from .._codes import Codes, sketch_bits
from .._defaults import CANDIDATES, EF_SEARCH_FLOOR, EXPLAIN_ATOMS, RERANK, RERANK_MODES, K
from ..columns.choice import choose
from ..errors import CompressaeError, InvalidVectorError, NoPrimaryKeyError, StaleAttachmentError, UnknownKeyError, UnknownModelError, UnknownTableError
from . import rerank
from .codes import Weights

T = TypeVar("T")
MAX_EF_SEARCH = 1000  # pgvector's limit for hnsw.ef_search


@dataclass(frozen=True)
class Statement:
    """A query for a driver to run; ``binary`` rows carry pgvector values as numpy (see :mod:`compressae_pg._wire`).

    ``raw`` statements take positional ``$n`` parameters (psycopg's RawCursor): psycopg then parses
    no ``%`` in the text, so identifiers composed into it may hold any character.
    """

    query: sql.Composable
    params: dict[str, Any] | Sequence[Any] | None = None
    binary: bool = False
    raw: bool = False


@dataclass(frozen=True)
class Batch:
    """Statements a driver sends together (a pipeline, one round trip); the plan receives each one's rows."""

    statements: tuple[Statement, ...]


Plan = Generator[Statement, list[tuple], T]


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
class Target:
    """A resolved attachment: where its codes are, which model made them, and the table's key."""

    attachment_id: int
    schema: str
    table: str
    source_column: str
    code_column: str
    graph: str  # 'sketch' or 'sparse': which column the HNSW index is over
    sketch_column: str | None
    model_id: int
    model_ref: str
    dim: int
    h: int
    key: str
    key_oid: int
    source_type: str | None  # None when the source column no longer exists
    vector_schema: str
    oids: dict[str, int]
    residual_column: str | None = None  # the residual sketch the reconstructed rerank adds (compressae_pg._residual)
    residual_planes: int = 0
    sketch_planes: int = 1  # planes of the sketch column (compressae_pg._codes.sketch_bits)

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def needs_codes(self) -> bool:
        """Whether the index is probed with the query's code (graph ``sparse``) rather than its sign bits."""
        return self.graph == "sparse"


@dataclass(frozen=True)
class Query:
    """One query, ready to search: the index probe (sign bits, or its code), its vector and the rerank projection."""

    bits: str | None  # the sign bits as bit text ('0110…'): the sketch graph's probe
    indices: np.ndarray | None  # the query's code (the sparse graph's probe, and the symmetric rerank's)
    values: np.ndarray | None
    vector: np.ndarray | None = None
    projection: np.ndarray | None = None
    exclude: tuple[Any] | None = None  # (key,) of a row left out of the results


# ---- resolving a column -------------------------------------------------------------------------
def resolve(table: str, column: str, code_column: str | None = None) -> Plan[Target]:
    """The attachment of ``table.column``; ``column`` may also name the code column itself.

    The table is looked up as :func:`_catalog.resolve_table <compressae_pg._catalog.resolve_table>`
    does: its exact name on the search_path, then ``schema.table``.
    """
    if not isinstance(table, str) or not table or not isinstance(column, str) or not column:
        raise UnknownTableError("a table and a column name are required")
    tries = [(table, None)] + ([tuple(reversed(table.split(".", 1)))] if "." in table else [])
    found = []
    for name, schema in tries:
        found = yield Statement(_sql.query("resolve_table"), {"name": name, "schema": schema})
        if found:
            break
    if not found:
        raise UnknownTableError(f"table {table!r} does not exist on the search_path (or you cannot see it)")
    schema, name, oid, _kind = found[0]
    rows = yield Statement(_sql.query("search_target"), {"oid": oid})
    picked = choose(rows, f"{schema}.{name}", column, source=lambda r: r[3], code=lambda r: r[4], code_column=code_column)
    (aid, schema, name, source, code, graph, sketch, residual, planes, sketch_planes, model_id, model_name, version, dim, h, _k,
     key, key_oid, n_keys, source_type, vector_schema, *oids) = picked
    if not n_keys:
        raise NoPrimaryKeyError(f"table {schema}.{name} has no primary key; search results need one")
    if n_keys > 1:
        raise NoPrimaryKeyError(f"table {schema}.{name} has a composite primary key; search needs a single-column key")
    return Target(aid, schema, name, source, code, graph, sketch, model_id, f"{model_name}@{version}", dim, h, key, key_oid,
                  source_type, vector_schema, dict(zip(("sparsevec", "vector", "halfvec"), oids)), residual, planes,
                  sketch_planes)


_MODELS: WeakKeyDictionary[Any, dict[int, Weights]] = WeakKeyDictionary()


def cached_model(conn: Any, model_id: int) -> Weights | None:
    """The model already loaded on this connection, if any (models are cached per connection)."""
    return _MODELS.get(conn, {}).get(model_id)


def load_model(conn: Any, target: Target) -> Plan[Weights]:
    """The attachment's model: from the connection's cache, else its weights read once."""
    model = cached_model(conn, target.model_id)
    if model is None:
        rows = yield Statement(_sql.query("model_weights"), {"id": target.model_id})
        if not rows:
            raise UnknownModelError(f"model {target.model_ref} of {target.qualified}.{target.code_column} is gone")
        model = Weights.from_bytes(bytes(rows[0][0]))
        _MODELS.setdefault(conn, {})[target.model_id] = model
    return model


# ---- queries ------------------------------------------------------------------------------------
def checked(model: Weights, vectors: np.ndarray, target: Target) -> None:
    """Refuse query vectors of the wrong dimension (naming the column's), NaN, Inf and zero vectors."""
    if vectors.ndim != 2 or vectors.shape[1] != model.dim:
        got = vectors.shape[-1] if vectors.ndim else 0
        raise InvalidVectorError(f"the query has {got} dimensions, but {target.qualified}.{target.code_column} "
                                 f"holds codes of {model.dim}-dimensional vectors (model {target.model_ref})")
    _vectors.check(vectors, model.dim)  # NaN, Inf and zero vectors are refused by name


def encode(model: Weights, vectors: np.ndarray, mode: str, target: Target) -> list[Query]:
    """The queries' probes (sign bits; a code only where the graph or the rerank needs one) and rerank projections."""
    checked(model, vectors, target)
    codes = model.compress(vectors) if target.needs_codes or mode == "symmetric" else None
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return _queries(model, codes, sketch_bits(unit, target.sketch_planes), unit, mode)


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


def item(target: Target, model: Weights, key: Any, mode: str) -> Plan[Query]:
    """The stored code (and source vector) of the row with primary key ``key``, as a query."""
    source = sql.SQL(", {}").format(sql.Identifier(target.source_column)) if target.source_type else sql.SQL("")
    sketch = sql.SQL(", {}::text").format(sql.Identifier(target.sketch_column)) if target.sketch_column else sql.SQL("")
    rows = yield Statement(_sql.query("search_item", code=sql.Identifier(target.code_column), source=source, sketch=sketch,
                                      table=sql.Identifier(target.schema, target.table),
                                      key=sql.Identifier(target.key), item=sql.Literal(key)), binary=True)
    if not rows:
        raise UnknownKeyError(f"no row of {target.qualified} has {target.key} = {key!r}")
    raw, *rest = rows[0]
    bits = rest.pop(0) if target.sketch_column else None
    vector = rest.pop(0) if target.source_type else None
    code = _wire.sparse_rows([raw]) if raw is not None else None
    if code is None or not len(code.indices):
        raise CompressaeError(f"row {key!r} of {target.qualified} has no code in {target.code_column} yet (run the backfill)")
    if mode in ("reconstructed", "dense") and (vector is None or not np.any(vector)):
        raise CompressaeError(f"rerank={mode!r} needs the source vector of row {key!r}, and {target.qualified}."
                              f"{target.source_column} has none; use rerank='symmetric' or 'none'")
    if not target.needs_codes and bits is None:
        raise CompressaeError(f"row {key!r} of {target.qualified} has no sketch in {target.sketch_column} yet (run the backfill)")
    codes = Codes(code.indices[None, :], code.values[None, :], target.h)
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


def code_text(query: Query, target: Target) -> str:
    """The query's code as ``sparsevec`` text (1-based indices)."""
    entries = ",".join(f"{i + 1}:{float(v)!r}" for i, v in zip(query.indices.tolist(), query.values) if v != 0)
    return f"{{{entries}}}/{target.h}"


def _binary_key(oid: int) -> bool:
    return psycopg.adapters.get_loader(oid, Format.BINARY) is not None


def candidates(target: Target, query: Query, opts: Options) -> Statement:
    """The statement that fetches a query's candidates through the HNSW index (one text per column and filter)."""
    if opts.rerank == "dense" and target.source_type is None:
        raise CompressaeError(f"rerank='dense' needs the source column {target.source_column!r}, "
                              f"which {target.qualified} no longer has")
    probe = code_text(query, target) if target.needs_codes else query.bits
    params = [probe, opts.limit, target.attachment_id]
    if opts.where is None and query.exclude is None:  # the common case: compose its text once per column
        return Statement(_plain_candidates(target, opts.rerank), params, binary=True, raw=True)
    return Statement(_candidates_sql(target, opts.rerank, opts.where, query.exclude), params, binary=True, raw=True)


_PLAIN: dict[tuple, sql.SQL] = {}


def _plain_candidates(target: Target, rerank: str) -> sql.SQL:
    """:func:`_candidates_sql` without a filter, composed once per attachment, its names and the rerank."""
    key = (target.attachment_id, target.schema, target.table, target.code_column, target.sketch_column,
           target.residual_column, target.source_column, target.key, target.key_oid, target.vector_schema, target.graph, rerank)
    if key not in _PLAIN:
        _PLAIN[key] = sql.SQL(_candidates_sql(target, rerank, None, None).as_string(None))
    return _PLAIN[key]


def _candidates_sql(target: Target, rerank: str, where: Any, exclude: tuple[Any] | None) -> sql.Composed:
    extra = []
    if rerank in ("reconstructed", "symmetric"):
        extra.append(sql.Identifier(target.code_column))
    if rerank == "reconstructed" and target.residual_column:
        extra.append(sql.Identifier(target.residual_column))
    if rerank == "dense":
        extra.append(sql.Identifier(target.source_column))
    key = sql.Identifier(target.key)
    condition = where_sql(where)
    if exclude is not None:
        condition = sql.SQL("({}) AND {} IS DISTINCT FROM {}").format(condition, key, sql.Literal(exclude[0]))
    if target.needs_codes:
        graph, op, probe_type = target.code_column, "<=>", sql.Identifier(target.vector_schema, "sparsevec")
    else:
        graph, op, probe_type = target.sketch_column, "<~>", sql.SQL("varbit")
    return _sql.query(
        "search_candidates",
        key=key if _binary_key(target.key_oid) else sql.SQL("{}::text").format(key),
        graph=sql.Identifier(graph), op=sql.SQL(op), probe_type=probe_type,
        code=sql.Identifier(target.code_column), ops=sql.Identifier(target.vector_schema),
        extra=sql.SQL("").join(sql.SQL(", {}").format(e) for e in extra),
        table=sql.Identifier(target.schema, target.table), filter=condition,
    )


def rank(target: Target, query: Query, rows: list[tuple], opts: Options) -> list[Hit]:
    """Rerank one query's candidate rows ``(key, distance, model_id, extra...)`` and keep the best k."""
    if rows and rows[0][2] != target.model_id:
        raise StaleAttachmentError(f"{target.qualified}.{target.code_column} now holds codes of another model")
    if opts.rerank == "dense":
        rows = [r for r in rows if r[3] is not None and len(r[3]) == len(query.vector)]
    keys = [r[0] for r in rows]
    if opts.rerank == "none" and not target.needs_codes:  # the sign bits' cosine: 1 - 2 hamming / d
        scores = 1.0 - 2.0 * np.array([r[1] for r in rows], dtype=np.float64) / (target.sketch_planes * target.dim)
    elif opts.rerank == "none":
        scores = 1.0 - np.array([r[1] for r in rows], dtype=np.float64)
    elif opts.rerank == "dense":
        scores = rerank.cosine(query.vector, np.stack([r[3] for r in rows])) if rows else np.zeros(0)
    else:
        scores = rerank.code_scores(query.projection, _wire.sparse_rows([r[3] for r in rows]))
        if opts.rerank == "reconstructed" and target.residual_column:
            scores = _with_residuals(target, query, rows, scores)
    return [Hit(keys[i], float(scores[i])) for i in rerank.top(scores, opts.k)]


def _residuals(target: Target, packed: Sequence[bytes | None]) -> tuple[list[int], _residual.Residuals | None]:
    """The positions whose residual sketch has the attachment's size, and those sketches unpacked (None if there are none)."""
    size = (_residual.bits_length(target.dim, target.residual_planes) + 7) // 8
    have = [i for i, p in enumerate(packed) if p is not None and len(p) == size]
    if not have:
        return have, None
    found = np.frombuffer(b"".join(packed[i] for i in have), dtype=np.uint8).reshape(len(have), -1)
    return have, _residual.unpack(found, target.dim, target.residual_planes)


def _with_residuals(target: Target, query: Query, rows: list[tuple], scores: np.ndarray) -> np.ndarray:
    """``c · (q · x̂) + a · (q · L)`` for the candidates that have a residual sketch (of the attachment's size); q · x̂ for the rest."""
    have, found = _residuals(target, [r[4] for r in rows])
    if found is not None:
        scores = scores.astype(np.float64)
        scores[have] = found.scores(query.vector, scores[have])
    return scores


def search(target: Target, queries: Sequence[Query], opts: Options) -> Plan[list[list[Hit]]]:
    """Candidates and rerank for each query: the settings and every query's candidates in one batch."""
    settings = Statement(_sql.query("search_settings"), [str(opts.hnsw_ef_search)], raw=True)
    rows = yield Batch((settings, *(candidates(target, q, opts) for q in queries)))
    return [rank(target, q, r, opts) for q, r in zip(queries, rows[1:])]


# ---- what the front doors run -------------------------------------------------------------------
Call = Callable[[Target, Weights], Plan[T]]


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

    def plan(target: Target, model: Weights) -> Plan[list[list[Hit]]]:
        found = encode(model, vectors, opts.rerank, target)
        results = yield from search(target, found, opts)
        if explain:
            results = yield from explained(target, model, [q.vector for q in found], results, top)
        return results

    return plan


def similar(key: Any, opts: Options) -> Call[list[list[Hit]]]:
    """The plan of an item-to-item search from the row whose primary key is ``key``."""

    def plan(target: Target, model: Weights) -> Plan[list[list[Hit]]]:
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

    def plan(target: Target, model: Weights) -> Plan[Explanation]:
        checked(model, vectors, target)
        rows = yield _row_code(target, key)
        if not rows:
            raise UnknownKeyError(f"no row of {target.qualified} has {target.key} = {key!r}")
        if rows[0][0] is None:
            raise CompressaeError(f"row {key!r} of {target.qualified} has no code in {target.code_column} yet (run the backfill)")
        found = explanation(target, model, vectors[0] / np.linalg.norm(vectors[0]), key, *rows[0], top)
        return (yield from labelled(target, [found]))[0]

    return plan


def explained(target: Target, model: Weights, units: Sequence[np.ndarray], results: list[list[Hit]],
              top: int | None) -> Plan[list[list[Hit]]]:
    """Each hit with its explanation: every hit's code in one batch, then the listed atoms' labels in one read.

    A hit whose row was deleted (or lost its code) since the search keeps ``explanation=None``.
    """
    hits = [(i, h) for i, found in enumerate(results) for h in found]
    if not hits:
        return results
    rows = yield Batch(tuple(_row_code(target, h.key) for _, h in hits))
    have = [n for n, r in enumerate(rows) if r and r[0][0] is not None]
    found = yield from labelled(target, [explanation(target, model, units[hits[n][0]], hits[n][1].key, *rows[n][0], top)
                                         for n in have])
    why = dict(zip(have, found))
    out: list[list[Hit]] = [[] for _ in results]
    for n, (i, h) in enumerate(hits):
        out[i].append(replace(h, explanation=why.get(n)))
    return out


def _row_code(target: Target, key: Any) -> Statement:
    """The statement that reads one row's code and residual sketch by its primary key."""
    residual = sql.Identifier(target.residual_column) if target.residual_column else sql.SQL("NULL::varbit")
    return Statement(_sql.query("search_explain", code=sql.Identifier(target.code_column), residual=residual,
                                table=sql.Identifier(target.schema, target.table),
                                key=sql.Identifier(target.key), item=sql.Literal(key)), binary=True)


def explanation(target: Target, model: Weights, unit: np.ndarray, key: Any, raw: Any, packed: bytes | None,
                top: int | None) -> Explanation:
    """The reconstructed rerank's score of one row (:func:`rank`'s arithmetic), split by atom: ``c·s_j·(q̂·d_j)``."""
    code = _wire.sparse_rows([raw])
    weights = model.project(unit[None, :])[0].astype(np.float64)[code.indices]
    values = code.values.astype(np.float64)
    base = float(weights @ values)
    c, residual = 1.0, None
    found = _residuals(target, [packed])[1] if target.residual_column else None
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


def labelled(target: Target, found: Sequence[Explanation]) -> Plan[list[Explanation]]:
    """``found`` with each listed atom's stored label (None where there is none), read in one statement."""
    atoms = sorted({a.atom for e in found for a in e.atoms})
    if not atoms:
        return list(found)
    rows = yield Statement(_sql.query("labels_read"), {"attachment": target.attachment_id, "model": target.model_id, "atoms": atoms})
    labels = {r[0]: Label.from_row(r) for r in rows}
    return [replace(e, atoms=tuple(replace(a, label=labels.get(a.atom)) for a in e.atoms)) for e in found]


def nothing(target: Target, model: Weights) -> Plan[None]:
    """A plan that only resolves the column and loads its model."""
    yield from ()

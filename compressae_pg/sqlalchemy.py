"""SQLAlchemy: map a code column with pgvector's ``SPARSEVEC`` and search it with expressions that
compose with ordinary filters and joins.

.. code-block:: python

    from compressae_pg.sqlalchemy import SPARSEVEC, hnsw_settings, reconstructed_score, sketch_distance

    candidates = (select(Item.id, Item.embedding_sae).where(Item.category == "books")
                  .order_by(sketch_distance(Item.embedding_sae_sketch, q)).limit(100).subquery())
    stmt = (select(candidates.c.id, reconstructed_score("items-sae", candidates.c.embedding_sae, q).label("score"))
            .order_by(desc("score")).limit(10))

``sketch_distance`` is the order of the default index (HNSW over the sketch column, each row's sketch in
the attachment's planes); ``sparse_cosine_distance`` is that of a code column attached with ``graph="sparse"``.
A query given as a value (a list, numpy array, pgvector ``Vector``) is encoded or projected once
per statement (a scalar subquery); a column expression is evaluated per row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import sqlalchemy as sa
from pgvector.sqlalchemy import BIT, SPARSEVEC, VECTOR
from sqlalchemy.dialects.postgresql import JSONB, REGCLASS
from sqlalchemy.sql.elements import ColumnElement

from . import _vectors
from ._defaults import CANDIDATES, EF_SEARCH, RERANK, SKETCH_PLANES, K
from .errors import InvalidVectorError
from .search.plans import MAX_EF_SEARCH

__all__ = ["BIT", "SPARSEVEC", "encode", "hnsw_settings", "reconstructed_score", "search", "sketch_distance", "sparse_cosine_distance"]


def _is_sql(value: Any) -> bool:
    """A SQL expression (a column, an ORM attribute, a function...) rather than a value."""
    return isinstance(value, sa.sql.ClauseElement) or hasattr(value, "__clause_element__")


def _vector(value: Any, *, unit: bool = False) -> ColumnElement:
    """A query vector as SQL: a column expression as is, a value as a ``vector`` bind parameter."""
    if _is_sql(value):
        return sa.func.l2_normalize(value, type_=VECTOR) if unit else value
    x = _vectors.check(value, None)
    if len(x) != 1:
        raise InvalidVectorError(f"expected one query vector, got {len(x)}")
    x = x[0]
    return sa.cast(sa.bindparam(None, (x / np.linalg.norm(x)) if unit else x, type_=VECTOR(len(x))), VECTOR(len(x)))


def _once(expr: ColumnElement, value: Any) -> ColumnElement:
    """``expr`` computed once per statement when it depends on a value only (STABLE functions run per row otherwise)."""
    return expr if _is_sql(value) else sa.select(expr).scalar_subquery()


def encode(model: str, vector: Any) -> ColumnElement:
    """``compressae.encode(model, vector)``: the code of a query value (once per statement) or of a column."""
    return _once(sa.func.compressae.encode(model, _vector(vector), type_=SPARSEVEC), vector)


def sketch_distance(sketch: Any, query: Any, planes: int = SKETCH_PLANES) -> ColumnElement[float]:
    """``sketch <~> compressae.sketch(query, planes)``: the Hamming order the default HNSW index (``bit_hamming_ops``) serves.

    ``planes`` is the attachment's (``Attachment.sketch_planes``): 2 for one made since 0016, 1 before.
    """
    bits = _once(sa.func.compressae.sketch(_vector(query), planes, type_=BIT), query)
    return sa.type_coerce(sketch, BIT).op("<~>", return_type=sa.Float)(bits)


def sparse_cosine_distance(code: Any, query_code: Any) -> ColumnElement[float]:
    """``code <=> query_code``, the order an HNSW index with ``sparsevec_cosine_ops`` serves (ORDER BY … LIMIT)."""
    return sa.type_coerce(code, SPARSEVEC).op("<=>", return_type=sa.Float)(query_code)


def reconstructed_score(model: str, code: Any, query: Any) -> ColumnElement[float]:
    """cos(query, decode(code)) = ``project(model, query / |query|) · code``: the asymmetric rerank, O(k) per row.

    It scores the codes alone; :func:`search` (``compressae.search``) adds the residual sketch where the attachment has one.
    """
    probe = _once(sa.func.compressae.project(model, _vector(query, unit=True), type_=SPARSEVEC), query)
    return -sa.type_coerce(code, SPARSEVEC).op("<#>", return_type=sa.Float)(probe)


def search(table: str, column: str, query: Any, *, k: int = K, candidates: int = CANDIDATES,
           rerank: str = RERANK, where: Mapping[str, Any] | None = None) -> sa.TableValuedAlias:
    """``compressae.search(...)`` as a table of ``(key text, score)``, to select from or join on the key.

    ``where`` is ``{column: value}`` pairs (None → IS NULL, a list → any of them), applied before the rerank
    takes its candidates: the SQL function's ``filter``, bound as JSON, never spliced into SQL.
    """
    args = [sa.cast(table, REGCLASS), column, _vector(query), k, candidates, rerank]
    if where is not None:
        args.append(sa.cast(sa.literal(dict(where), JSONB), JSONB))
    fn = sa.func.compressae.search(*args)
    return fn.table_valued(sa.column("key", sa.Text), sa.column("score", sa.Float))


def hnsw_settings(ef_search: int = EF_SEARCH) -> sa.TextClause:
    """For the current transaction: ``hnsw.ef_search`` (at least the candidates fetched) and iterative scans."""
    if not 1 <= int(ef_search) <= MAX_EF_SEARCH:
        raise ValueError(f"ef_search must be from 1 to {MAX_EF_SEARCH} (got {ef_search})")
    return sa.text("SELECT set_config('hnsw.ef_search', :ef, true), set_config('hnsw.iterative_scan', 'relaxed_order', true)"
                   ).bindparams(ef=str(int(ef_search)))

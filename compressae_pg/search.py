"""Search an attached code column from Python: :class:`CompressedColumn` on a psycopg ``Connection``.

.. code-block:: python

    items = CompressedColumn(conn, "items", "embedding")
    hits = items.search(query_vector, k=10)                 # [Hit(key=..., score=...), ...]
    hits = items.search(query_vector, where={"lang": "en"}, rerank="dense")
    same = items.similar(42, k=10)                          # item-to-item from the stored codes

The maths and the SQL live in :mod:`.retrieval`; :mod:`.asearch` is the same on an AsyncConnection.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import nullcontext
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from . import loaders, retrieval
from .retrieval import Batch, Call, Hit, Options, Plan, StaleAttachment, Statement, Target

T = TypeVar("T")
Where = sql.Composable | Mapping[str, Any] | None
# Errors that mean a resolved column went away (detached, or swapped by a re-compression): resolve again once.
STALE = (StaleAttachment, psycopg.errors.UndefinedColumn, psycopg.errors.UndefinedTable)


def cursor(conn: Any, stmt: Statement, oids: dict[str, int] | None, raw: type = psycopg.RawCursor) -> Any:
    """The cursor a statement runs on: ``raw`` (RawCursor, or AsyncRawCursor) for ``$n`` parameters, with the
    pgvector loaders for binary rows."""
    cur = raw(conn) if stmt.raw else conn.cursor()
    if stmt.binary and oids:
        loaders.install(cur.adapters, oids)
    return cur


def needs_savepoint(conn: Any) -> bool:
    """Whether a call needs a transaction (a savepoint inside the caller's) to scope its SET LOCALs.

    On an idle autocommit connection a batch is its own implicit transaction, which scopes them
    already: no BEGIN and ROLLBACK round trips.
    """
    return not (conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE)


def drive(conn: psycopg.Connection, plan: Plan[T], oids: dict[str, int] | None = None) -> T:
    """Run a plan's statements on ``conn`` (a :class:`Batch` in one pipeline) and return what the plan returns."""
    try:
        step = next(plan)
        while True:
            stmts = step.statements if isinstance(step, Batch) else (step,)
            with conn.pipeline() if isinstance(step, Batch) else nullcontext():
                curs = [cursor(conn, stmt, oids) for stmt in stmts]
                for cur, stmt in zip(curs, stmts):
                    cur.execute(stmt.query, stmt.params, binary=stmt.binary)
                # In a pipeline the results arrive with the first fetch; every statement of a batch returns rows.
                rows = [cur.fetchall() if isinstance(step, Batch) or cur.description else [] for cur in curs]
            for cur in curs:
                cur.close()
            step = plan.send(rows if isinstance(step, Batch) else rows[0])
    except StopIteration as done:
        return done.value


class CompressedColumn:
    """An attached code column, ready to search: ``CompressedColumn(conn, "items", "embedding")``.

    ``column`` is the source vector column (or the code column itself); ``code_column`` picks one
    when the source column has several. The attachment is resolved now (errors name what is
    missing) and the model is loaded once per connection. Every call runs in a transaction of its
    own that it rolls back (a savepoint inside yours), so its ``SET LOCAL`` settings never leak.
    A re-compression that swaps in a new model is noticed, and the column resolved again.
    """

    def __init__(self, conn: psycopg.Connection, table: str, column: str, *, code_column: str | None = None) -> None:
        self.conn, self._names = conn, (table, column, code_column)
        self._target: Target | None = None
        self._call(retrieval.nothing)

    @property
    def target(self) -> Target:
        """The resolved attachment (table, code column, model, key)."""
        assert self._target is not None
        return self._target

    def search(self, query: Any, k: int = 10, *, candidates: int = 100, rerank: str = "reconstructed",
               where: Where = None, ef_search: int | None = None) -> list[Hit]:
        """The ``k`` rows nearest ``query`` (a vector of the model's dimension), best first.

        The HNSW index on the codes returns ``candidates`` rows by sparse cosine with the query's
        code; ``rerank`` orders them: ``"none"`` (cosine of the codes), ``"reconstructed"`` (cosine
        of the query with each decoded row, O(k)), ``"symmetric"`` (cosine of both reconstructions)
        or ``"dense"`` (exact cosine with the source column). ``where`` filters rows: psycopg.sql, or
        ``{column: value}`` pairs; pgvector's iterative scan keeps a selective filter returning k rows.
        ``ef_search`` overrides ``hnsw.ef_search`` (default: ``candidates``, at least 40).
        """
        opts = Options(k, candidates, rerank, where, ef_search)
        return self._call(retrieval.searching(query, opts, single=True))[0]

    def search_many(self, queries: Any, k: int = 10, *, candidates: int = 100, rerank: str = "reconstructed",
                    where: Where = None, ef_search: int | None = None) -> list[list[Hit]]:
        """:meth:`search` for each of ``queries`` (an (n, d) array or a list of vectors), encoded as one batch."""
        return self._call(retrieval.searching(queries, Options(k, candidates, rerank, where, ef_search)))

    def similar(self, key: Any, k: int = 10, *, candidates: int = 100, rerank: str = "symmetric",
                where: Where = None, ef_search: int | None = None) -> list[Hit]:
        """The ``k`` rows most similar to the row whose primary key is ``key`` (itself left out).

        The probe is the row's stored code; the default rerank is ``"symmetric"`` (reconstruction
        against reconstruction). ``"reconstructed"`` and ``"dense"`` use the row's source vector.
        """
        return self._call(retrieval.similar(key, Options(k, candidates, rerank, where, ef_search)))[0]

    def _call(self, plan: Call[T]) -> T:
        for attempt in (1, 2):
            try:
                with self.conn.transaction(force_rollback=True) if needs_savepoint(self.conn) else nullcontext():
                    if self._target is None:
                        self._target = drive(self.conn, retrieval.resolve(*self._names))
                    model = drive(self.conn, retrieval.load_model(self.conn, self._target))
                    return drive(self.conn, plan(self._target, model), self._target.oids)
            except STALE:
                self._target = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def __repr__(self) -> str:
        t = self._target
        return f"CompressedColumn({t.qualified}.{t.code_column}, model {t.model_ref})" if t else "CompressedColumn(unresolved)"

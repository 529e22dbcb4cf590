"""Search an attached code column from Python: :class:`AsyncCompressedColumn` on a psycopg ``AsyncConnection``.

.. code-block:: python

    items = await AsyncCompressedColumn(aconn, "items", "embedding").open()
    hits = await items.search(query_vector, k=10)           # [Hit(key=..., score=...), ...]
    hits = await items.search(query_vector, where={"lang": "en"}, rerank="dense")
    same = await items.similar(42, k=10)                    # item-to-item from the stored codes
    why = await items.explain(query_vector, hits[0].key)    # the atoms that carry its score

This file is the one written by hand: ``column.py``, :class:`CompressedColumn` on a ``Connection``,
is generated from it by ``tools/async_to_sync.py`` (as psycopg does), and a test keeps them equal.
The maths and the SQL live in :mod:`.plans`, which both run.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any, TypeVar

import psycopg

from .._attachment import Attachment
from .._defaults import CANDIDATES, EXPLAIN_ATOMS, RERANK, SIMILAR_RERANK, K
from .._sql import Batch, Plan, cursor
from . import plans
from ._session import STALE, Where, needs_savepoint
from .explain import Explanation
from .plans import Call, Hit, Options

T = TypeVar("T")


async def drive(conn: psycopg.AsyncConnection, plan: Plan[T], oids: dict[str, int] | None = None) -> T:
    """Run a plan's statements on ``conn`` (a :class:`Batch` in one pipeline) and return what the plan returns."""
    try:
        step = next(plan)
        while True:
            stmts = step.statements if isinstance(step, Batch) else (step,)
            async with conn.pipeline() if isinstance(step, Batch) else nullcontext():
                curs = [cursor(conn, stmt, oids) for stmt in stmts]
                for cur, stmt in zip(curs, stmts):
                    await cur.execute(stmt.query, stmt.params, binary=stmt.binary)
                # In a pipeline the results arrive with the first fetch; every statement of a batch returns rows.
                rows = [await cur.fetchall() if isinstance(step, Batch) or cur.description else [] for cur in curs]
            for cur in curs:
                await cur.close()
            step = plan.send(rows if isinstance(step, Batch) else rows[0])
    except StopIteration as done:
        return done.value


class AsyncCompressedColumn:
    """An attached code column, ready to search: ``AsyncCompressedColumn(conn, "items", "embedding")``.

    ``column`` is the source vector column (or the code column itself); ``code_column`` picks one
    when the source column has several. The attachment is resolved and the model loaded once per
    connection (errors name what is missing): by :meth:`open` or the first search, and by the sync
    class as soon as it is made. Every call runs in
    a transaction of its own that it rolls back (a savepoint inside yours), so its ``SET LOCAL``
    settings never leak. A re-compression that swaps in a new model is noticed, and the column
    resolved again.
    """

    def __init__(self, conn: psycopg.AsyncConnection, table: str, column: str, *, code_column: str | None = None) -> None:
        self.conn, self._names = conn, (table, column, code_column)
        self._target: Attachment | None = None
        # sync: self._call(plans.nothing)

    @property
    def target(self) -> Attachment:
        """The resolved attachment (table, code column, model, key)."""
        if self._target is None:
            raise RuntimeError("not resolved yet: open() or search first")
        return self._target

    async def open(self) -> AsyncCompressedColumn:
        """Resolve the attachment and load its model now (errors name what is missing)."""
        await self._call(plans.nothing)
        return self

    async def search(self, query: Any, k: int = K, *, candidates: int = CANDIDATES, rerank: str = RERANK,
                     where: Where = None, ef_search: int | None = None, explain: bool | int = False) -> list[Hit]:
        """The ``k`` rows nearest ``query`` (a vector of the model's dimension), best first.

        The HNSW index returns ``candidates`` rows (by the sign bits' Hamming distance on the default
        sketch graph, by sparse cosine on the sparse graph); ``rerank`` orders them: ``"none"`` (cosine
        of the codes), ``"reconstructed"`` (cosine of the query with each decoded row, O(k)),
        ``"symmetric"`` (cosine of both reconstructions) or ``"dense"`` (exact cosine with the source
        column). ``where`` filters rows: psycopg.sql, or ``{column: value}`` pairs; pgvector's iterative
        scan keeps a selective filter returning k rows. ``ef_search`` overrides ``hnsw.ef_search``
        (default: ``candidates``, at least 40). ``explain`` gives each hit its :class:`Explanation`
        (as :meth:`explain`: True lists 5 atoms, a number that many), read in two more round trips.
        """
        opts = Options(k, candidates, rerank, where, ef_search)
        return (await self._call(plans.searching(query, opts, single=True, explain=explain)))[0]

    async def search_many(self, queries: Any, k: int = K, *, candidates: int = CANDIDATES, rerank: str = RERANK,
                          where: Where = None, ef_search: int | None = None, explain: bool | int = False) -> list[list[Hit]]:
        """:meth:`search` for each of ``queries`` (an (n, d) array or a list of vectors), encoded as one batch."""
        return await self._call(plans.searching(queries, Options(k, candidates, rerank, where, ef_search), explain=explain))

    async def similar(self, key: Any, k: int = K, *, candidates: int = CANDIDATES, rerank: str = SIMILAR_RERANK,
                      where: Where = None, ef_search: int | None = None) -> list[Hit]:
        """The ``k`` rows most similar to the row whose primary key is ``key`` (itself left out).

        The probe is the row's stored code; the default rerank is ``"symmetric"`` (reconstruction
        against reconstruction). ``"reconstructed"`` and ``"dense"`` use the row's source vector.
        """
        return (await self._call(plans.similar(key, Options(k, candidates, rerank, where, ef_search))))[0]

    async def explain(self, query: Any, key: Any, *, top: int | None = EXPLAIN_ATOMS) -> Explanation:
        """Why the row whose primary key is ``key`` scores what it does for ``query`` (reconstructed rerank).

        Each atom of the row's code contributes the query's weight on it (q̂·d_j) times the row's value,
        scaled by the residual sketch's factor; the ``top`` largest (all with None) are listed, with the
        residual sketch's term and the share of the score they carry. The parts sum to the score
        ``search(query, rerank="reconstructed")`` gives the row (the same arithmetic); SQL's
        ``compressae.explain`` gives the same atoms. A key with no row raises
        :class:`~compressae_pg.errors.UnknownKeyError`.
        """
        return await self._call(plans.explaining(query, key, top))

    async def _call(self, plan: Call[T]) -> T:
        for attempt in (1, 2):
            try:
                async with self.conn.transaction(force_rollback=True) if needs_savepoint(self.conn) else nullcontext():
                    if self._target is None:
                        self._target = await drive(self.conn, plans.resolve(*self._names))
                    model = await drive(self.conn, plans.load_model(self.conn, self._target))
                    return await drive(self.conn, plan(self._target, model), self._target.oids)
            except STALE:
                self._target = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def __repr__(self) -> str:
        t = self._target
        name = type(self).__name__
        return f"{name}({t.qualified}.{t.code_column}, model {t.model.ref})" if t else f"{name}(unresolved)"

"""The async twin of :mod:`.search`: :class:`AsyncCompressedColumn` on a psycopg ``AsyncConnection``.

.. code-block:: python

    items = AsyncCompressedColumn(aconn, "items", "embedding")
    hits = await items.search(query_vector, k=10)

Same arguments, same results: both run the plans of :mod:`.retrieval`. The attachment is resolved
and the model loaded on the first call (``await items.open()`` does it up front).
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any, TypeVar

import psycopg

from . import retrieval
from .retrieval import Batch, Call, Hit, Options, Plan, Target
from .search import STALE, Where, cursor, needs_savepoint

T = TypeVar("T")


async def drive(conn: psycopg.AsyncConnection, plan: Plan[T], oids: dict[str, int] | None = None) -> T:
    """Run a plan's statements on ``conn`` (a :class:`Batch` in one pipeline) and return what the plan returns."""
    try:
        step = next(plan)
        while True:
            stmts = step.statements if isinstance(step, Batch) else (step,)
            async with conn.pipeline() if isinstance(step, Batch) else nullcontext():
                curs = [cursor(conn, stmt, oids, psycopg.AsyncRawCursor) for stmt in stmts]
                for cur, stmt in zip(curs, stmts):
                    await cur.execute(stmt.query, stmt.params, binary=stmt.binary)
                rows = [await cur.fetchall() if isinstance(step, Batch) or cur.description else [] for cur in curs]
            for cur in curs:
                await cur.close()
            step = plan.send(rows if isinstance(step, Batch) else rows[0])
    except StopIteration as done:
        return done.value


class AsyncCompressedColumn:
    """:class:`~compressae_pg.search.CompressedColumn` for asyncio: the same methods, awaited."""

    def __init__(self, conn: psycopg.AsyncConnection, table: str, column: str, *, code_column: str | None = None) -> None:
        self.conn, self._names = conn, (table, column, code_column)
        self._target: Target | None = None

    @property
    def target(self) -> Target:
        """The resolved attachment (after :meth:`open` or the first search)."""
        if self._target is None:
            raise RuntimeError("not resolved yet: await open() or a search first")
        return self._target

    async def open(self) -> AsyncCompressedColumn:
        """Resolve the attachment and load its model now (errors name what is missing)."""
        await self._call(retrieval.nothing)
        return self

    async def search(self, query: Any, k: int = 10, *, candidates: int = 100, rerank: str = "reconstructed",
                     where: Where = None, ef_search: int | None = None) -> list[Hit]:
        """See :meth:`CompressedColumn.search <compressae_pg.search.CompressedColumn.search>`."""
        opts = Options(k, candidates, rerank, where, ef_search)
        return (await self._call(retrieval.searching(query, opts, single=True)))[0]

    async def search_many(self, queries: Any, k: int = 10, *, candidates: int = 100, rerank: str = "reconstructed",
                          where: Where = None, ef_search: int | None = None) -> list[list[Hit]]:
        """See :meth:`CompressedColumn.search_many <compressae_pg.search.CompressedColumn.search_many>`."""
        return await self._call(retrieval.searching(queries, Options(k, candidates, rerank, where, ef_search)))

    async def similar(self, key: Any, k: int = 10, *, candidates: int = 100, rerank: str = "symmetric",
                      where: Where = None, ef_search: int | None = None) -> list[Hit]:
        """See :meth:`CompressedColumn.similar <compressae_pg.search.CompressedColumn.similar>`."""
        return (await self._call(retrieval.similar(key, Options(k, candidates, rerank, where, ef_search))))[0]

    async def _call(self, plan: Call[T]) -> T:
        for attempt in (1, 2):
            try:
                async with self.conn.transaction(force_rollback=True) if needs_savepoint(self.conn) else nullcontext():
                    if self._target is None:
                        self._target = await drive(self.conn, retrieval.resolve(*self._names))
                    model = await drive(self.conn, retrieval.load_model(self.conn, self._target))
                    return await drive(self.conn, plan(self._target, model), self._target.oids)
            except STALE:
                self._target = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

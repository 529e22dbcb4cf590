"""What a user would pick instead of the codes, built on their own table: ``evaluate --compare``.

Each peer is a scratch copy of the evaluated column in another representation, with its own HNSW index
(pgvector's default build settings), in a private schema made for the run (unlogged tables: no WAL,
read through shared buffers like the user's table) and dropped with everything in it when the run ends,
on an error or Ctrl-C too. While it exists, its disk is said.

- ``halfvec``: the column as ``halfvec(d)``, cosine.
- ``binary``: ``binary_quantize(column)::bit(d)``, Hamming distance (d/8 bytes).
- ``pca``: an uncentred truncated SVD (it keeps inner products) of up to ``PCA_SAMPLE`` sampled rows,
  to ``vector(m)``, cosine.
- ``random``: a seeded Gaussian projection to ``vector(m)``: ``np.random.default_rng(seed)``'s
  ``standard_normal((d, m))``, cosine.
- ``prefix``: the first m dimensions (``subvector``), cosine: the Matryoshka route, meaningful only for
  a model trained to put its information first; for any other it shows what truncation loses.

- ``sign``: the row's sign bits (its sketch) and one ``float4`` scale ‖x‖₁ / d a row (:mod:`.planes`).
- ``sq2``, ``sq4``, ``sq8``: 2, 4 or 8 bits a dimension, uniform levels per dimension fitted on up to
  ``FIT_SAMPLE`` sampled rows (:mod:`.planes`), kept as bit planes in one ``bit(B·d)``.

m is set so that ``vector(m)`` takes the code column's bytes (8 + 4m; 66 dims for k = 32's 272 B).
``binary``, ``pca``, ``random`` and ``prefix`` are also measured with a dense rerank of each candidate
count, as an application that keeps the dense column would use them.

``sign`` and ``sqB`` need no index of their own: like the codes' default search they take each candidate
count of rows from the attachment's sketch graph (its HNSW index over the sign bits, probed with the
query's, the codes' settings), and order them by their own score, a sum of ``bit_count`` terms in SQL
(the query's weights in bit planes too). Their bytes are the sketch's and their own column's, their
index the codes'. Without an index (``compare_index=False``) they score every row.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import psycopg
from pgvector import Vector
from psycopg import sql

from .. import _sql
from .._attachment import Attachment
from .._codes import sketch_bits
from .._defaults import PEERS
from ..errors import CompressaeError, UnknownPeerError
from ..search.plans import Options
from . import planes
from .methods import EXACT_SCAN_QUERIES, Method, sample_queries, sizes, stream_rows

FIT_SAMPLE = 20000  # rows the PCA basis and the quantizers' levels are fitted on (all of them in a smaller table)
SCHEMA_PREFIX = "compressae_peers_"
PLANE_BITS = {"sign": 1, "sq2": 2, "sq4": 4, "sq8": 8}  # the peers of bit planes (.planes), by bits a dimension


@dataclass(frozen=True)
class Peer:
    """One peer: its stored type, the operator its index orders by, and how its values are made.

    ``fill`` computes the value from the source column in the server; without it, ``project`` maps
    unit rows (n, d) to values (n, dims) in Python. Queries go through ``project`` and then ``probe``.
    """

    name: str
    label: str
    type: str
    dims: int
    opclass: str
    op: str = "<=>"
    fill: Callable[[sql.Composable], sql.Composable] | None = None
    project: Callable[[np.ndarray], np.ndarray] = lambda x: x
    quantize: bool = False  # the query is binary_quantize()d in SQL, as the stored values were
    rerank: bool = True
    planes: planes.Quantizer | None = None  # a peer of bit planes, searched through the codes' sketch graph

    def texts(self, x: np.ndarray) -> list[str]:
        """The stored values of unit rows ``x`` as text: a vector, a row's bit planes, or its scale (``sign``)."""
        if self.planes is None:
            return [Vector(v).to_text() for v in self.project(x)]
        if self.planes.row_scale:
            return [repr(float(s)) for s in self.planes.scales(x)]
        return self.planes.texts(x)


def check(names: Sequence[str], conn: psycopg.Connection) -> list[str]:
    """The requested peer names, in order, each once; an unknown one, or a connection in a transaction of the
    caller's, is refused before any work."""
    if unknown := [n for n in names if n not in PEERS]:
        raise UnknownPeerError(f"unknown peer {', '.join(map(repr, unknown))} for --compare: choose from {','.join(PEERS)}")
    if names and not conn.autocommit:
        raise CompressaeError("--compare builds its peers on an autocommit connection (each in its own transaction, "
                              "so that they are dropped whatever happens to the evaluation)")
    return list(dict.fromkeys(names))


def same_bytes_dims(code_bytes: float) -> int:
    """The float32 dimensions whose ``vector(m)`` (8 + 4m bytes) is closest to ``code_bytes``."""
    return max(1, round((code_bytes - 8) / 4))


def pca_basis(rows: np.ndarray, dims: int) -> np.ndarray:
    """The top ``dims`` right singular vectors of the rows, (d, dims): the best rank-``dims`` inner products."""
    _, _, vt = np.linalg.svd(rows, full_matrices=False)
    return vt[:dims].T.astype(np.float32)


def random_projection(d: int, dims: int, seed: int) -> np.ndarray:
    """A (d, dims) matrix of independent N(0, 1) entries from ``np.random.default_rng(seed)``."""
    return np.random.default_rng(seed).standard_normal((d, dims)).astype(np.float32)


def quantizers(conn: psycopg.Connection, target: Attachment, names: Sequence[str], seed: int) -> dict[str, planes.Quantizer]:
    """The :class:`~.planes.Quantizer` of each bit-plane peer among ``names``, fitted on the sample ``seed`` draws."""
    wanted = [n for n in names if n in PLANE_BITS]
    if any(n != "sign" for n in wanted):
        sample = sample_queries(conn, target, FIT_SAMPLE, None, seed)[1]
    return {n: planes.signs(target.model.dim) if n == "sign" else planes.fit(sample, PLANE_BITS[n]) for n in wanted}


def specs(conn: psycopg.Connection, target: Attachment, names: Sequence[str], dims: int, seed: int, notes: list[str]) -> list[Peer]:
    """The :class:`Peer` of each name for ``target``'s d-dimensional column, m = ``dims`` where it applies."""
    d, vs = target.model.dim, target.vector_schema
    levels = quantizers(conn, target, names, seed)
    if levels and target.sketch_column is None:
        raise CompressaeError(f"{', '.join(levels)} search through the codes' sketch graph, and {target.qualified}."
                              f"{target.code_column} has none (graph {target.graph!r}): compare them with an attachment of graph 'sketch'")
    out = []
    for name in names:
        if name == "halfvec":
            out.append(Peer(name, f"halfvec({d})", "halfvec", d, "halfvec_cosine_ops", fill=lambda c: c, rerank=False))
        elif name == "binary":
            quantized = lambda c: sql.SQL("{}({})").format(sql.Identifier(vs, "binary_quantize"), c)  # noqa: E731
            out.append(Peer(name, f"binary_quantize bit({d})", "bit", d, "bit_hamming_ops", "<~>", fill=quantized, quantize=True))
        elif name == "prefix":
            prefix = lambda c: sql.SQL("{}(CAST({} AS {}), 1, {})").format(  # noqa: E731
                sql.Identifier(vs, "subvector"), c, sql.Identifier(vs, "vector"), sql.Literal(dims))
            out.append(Peer(name, f"prefix subvector(1..{dims}), Matryoshka models only", "vector", dims, "vector_cosine_ops",
                            fill=prefix, project=lambda x: x[..., :dims]))
            notes.append(f"prefix: the first {dims} of {d} dimensions, the Matryoshka route; meaningful only for a model "
                         "trained to put its information first (the data sets of this project are not)")
        elif name in levels:
            q = levels[name]
            if q.row_scale:
                out.append(Peer(name, "sign bits + scale float4, sketch graph", "float4", 0, "", planes=q))
                notes.append("sign: the sketch's sign bits and ‖x‖₁/d a row, scored s·(q·sign(x)), the query's weights "
                             f"in {planes.QUERY_PLANES} bit planes")
            else:
                out.append(Peer(name, f"{q.bits}-bit per-dimension bit({q.bits * d}), sketch graph", "bit", q.bits * d, "", planes=q))
                notes.append(f"{name}: {q.bits} bits a dimension, uniform levels per dimension with the least squared error on "
                             f"the sample (clipped at one of {len(planes.CLIPS)} quantiles), the query's weights in "
                             f"{planes.QUERY_PLANES} bit planes")
        elif name == "pca":
            _, sample = sample_queries(conn, target, FIT_SAMPLE, None, seed)
            basis = pca_basis(sample, dims)
            out.append(Peer(name, f"PCA vector({dims})", "vector", dims, "vector_cosine_ops", project=lambda x, b=basis: x @ b))
            notes.append(f"pca: {d} -> {dims} dims, an uncentred truncated SVD of {len(sample):,} sampled rows")
        else:
            matrix = random_projection(d, dims, seed)
            out.append(Peer(name, f"random projection vector({dims})", "vector", dims, "vector_cosine_ops",
                            project=lambda x, r=matrix: x @ r))
            notes.append(f"random: {d} -> {dims} dims, a Gaussian projection seeded {seed}")
    return out


@contextmanager
def built(conn: psycopg.Connection, target: Attachment, names: Sequence[str], *, candidates: Sequence[int], rerank: bool,
          ef_search: int, seed: int, notes: list[str], say: Callable[[str], None], dims: int | None = None,
          index: bool = True) -> Iterator[list[Method]]:
    """Build the peers ``names`` of ``target``'s column in a private schema and yield their :class:`Method` rows;
    the schema is dropped on the way out, whatever happened. ``index=False`` measures each by exact scan."""
    names = check(names, conn)
    if not names:
        yield []
        return
    code_bytes = sizes(conn, target, sql.Identifier(target.code_column), None)[0] or 0.0
    m = dims or same_bytes_dims(code_bytes)
    notes.append(f"peers at the codes' bytes: vector({m}) is {8 + 4 * m} B against the code column's {code_bytes:.0f} B "
                 "(without its sketch)")
    schema = SCHEMA_PREFIX + secrets.token_hex(4)
    conn.execute(_sql.query("peer_schema", schema=sql.Identifier(schema)))
    try:
        peers = specs(conn, target, names, m, seed, notes)
        _fill(conn, target, schema, peers)
        methods = []
        for peer in peers:
            if peer.planes is not None:
                methods += _plane_methods(conn, target, schema, peer, peer.planes, candidates, index)
                continue
            methods += _methods(conn, target, schema, peer, candidates if rerank and peer.rerank else (), ef_search, index,
                                notes, say)
        yield methods
    finally:
        if not conn.closed and not conn.broken:
            conn.execute(_sql.query("peer_drop", schema=sql.Identifier(schema)))
            say(f"peers: dropped schema {schema}")


def _fill(conn: psycopg.Connection, target: Attachment, schema: str, peers: list[Peer]) -> None:
    """Each peer's table: computed by the server, or projected here from one stream of the rows and copied in."""
    table = target.table.ident
    key, column = target.key.ident, sql.Identifier(target.source_column)
    projected = [p for p in peers if p.fill is None]
    for peer in peers:
        ident = sql.Identifier(schema, peer.name)
        type_ = (sql.Identifier("pg_catalog", peer.type) if not peer.dims else
                 sql.SQL("{}({})").format(sql.Identifier("pg_catalog" if peer.type == "bit" else target.vector_schema, peer.type),
                                          sql.Literal(peer.dims)))
        if peer.fill is not None:
            conn.execute(_sql.query("peer_fill", peer=ident, key=key, value=peer.fill(column), type=type_, table=table,
                                    column=column))
        else:
            conn.execute(_sql.query("peer_empty", peer=ident, key=key, type=type_, table=table))
    if not projected:
        return
    # The stream is one read-only transaction that is rolled back: collect the projections, then copy them in.
    chunks = [(keys, [p.texts(x) for p in projected]) for keys, x in stream_rows(conn, target)]
    for i, peer in enumerate(projected):
        with conn.cursor().copy(_sql.query("peer_copy", peer=sql.Identifier(schema, peer.name))) as copy:
            for keys, values in chunks:
                for k, v in zip(keys, values[i]):
                    copy.write_row((k, v))


def _methods(conn: psycopg.Connection, target: Attachment, schema: str, peer: Peer, candidates: Sequence[int], ef_search: int,
             index: bool, notes: list[str], say: Callable[[str], None]) -> list[Method]:
    """Index ``peer`` (unless told not to, or pgvector refuses), say its disk, and make its rows: alone, and reranked."""
    ident, name = sql.Identifier(schema, peer.name), f"{peer.name}_hnsw"
    indexed = index
    if index:
        try:
            conn.execute(_sql.query("peer_index", index=sql.Identifier(name), peer=ident,
                                    opclass=sql.Identifier(target.vector_schema, peer.opclass)))
        except psycopg.errors.ProgramLimitExceeded as exc:
            indexed = False
            notes.append(f"{peer.name}: pgvector refuses its HNSW index ({str(exc).strip()}): measured by exact scan, "
                         f"on {EXACT_SCAN_QUERIES} queries")
    table_bytes, index_bytes = conn.execute(_sql.query("peer_disk", schema=sql.Literal(schema), relation=sql.Literal(peer.name))).fetchone()
    disk = f"{table_bytes / 2**20:.1f} MiB table + {index_bytes / 2**20:.1f} MiB index in schema {schema}"
    say(f"peer {peer.name}: {disk} while the evaluation runs (dropped at the end)")
    notes.append(f"{peer.name} took {disk} while it ran, dropped afterwards")
    per_row = _bytes_per_row(conn, schema, peer)
    vs = sql.Identifier(target.vector_schema)

    def probe(q: np.ndarray) -> sql.Composable:
        value = sql.SQL("CAST({} AS {})").format(sql.Literal(Vector(peer.project(q)).to_text()),
                                                 sql.Identifier(target.vector_schema, "vector" if peer.quantize else peer.type))
        return sql.SQL("{}({})").format(sql.Identifier(target.vector_schema, "binary_quantize"), value) if peer.quantize else value

    def alone(q: np.ndarray, n: int) -> list:
        query = _sql.query("peer_search", peer=ident, ops=vs, op=sql.SQL(peer.op), query=probe(q), n=sql.Literal(n))
        return [r[0] for r in conn.execute(query)]

    def reranked(c: int) -> Callable[[np.ndarray, int], list]:
        def search(q: np.ndarray, n: int) -> list:
            query = _sql.query("peer_rerank", key=target.key.ident, peer=ident, ops=vs, op=sql.SQL(peer.op), query=probe(q),
                               candidates=sql.Literal(c), table=target.table.ident,
                               column=sql.Identifier(target.source_column), dense=sql.Literal(Vector(q).to_text()),
                               type=sql.Identifier(target.vector_schema, target.source.type), n=sql.Literal(n))
            return [r[0] for r in conn.execute(query)]
        return search

    if not indexed:
        return [Method(f"{peer.label}, exact scan", alone, "no index", per_row, None, queries=EXACT_SCAN_QUERIES),
                *(Method(f"{peer.label}, exact scan, dense rerank", reranked(c), f"candidates {c}", per_row, None,
                         queries=EXACT_SCAN_QUERIES) for c in candidates)]
    return [Method(f"{peer.label}, HNSW", alone, f"ef_search {ef_search}", per_row, index_bytes,
                   settings={"hnsw.ef_search": str(ef_search)}),
            *(Method(f"{peer.label}, HNSW, dense rerank", reranked(c), f"candidates {c}", per_row, index_bytes,
                     settings={"hnsw.ef_search": str(max(ef_search, c))}) for c in candidates)]


def _bytes_per_row(conn: psycopg.Connection, schema: str, peer: Peer) -> float | None:
    """Average stored bytes of the peer's value, by the query that measures the codes and the dense column."""
    row = conn.execute(_sql.query("evaluate_column_bytes", value=sql.Identifier("v"), table=sql.Identifier(schema, peer.name),
                                  also=sql.NULL, schema=sql.Literal(schema), index=sql.Literal(None))).fetchone()
    return row[0]


def _plane_methods(conn: psycopg.Connection, target: Attachment, schema: str, peer: Peer, quantizer: planes.Quantizer,
                   candidates: Sequence[int], index: bool) -> list[Method]:
    """A bit-plane peer through the codes' sketch graph at each candidate count (or by a scan of every row):
    the same candidates as the codes' default search, ordered by the peer's own score."""
    sketch_bytes, index_bytes = sizes(conn, target, sql.Identifier(target.sketch_column), target.index_name)
    per_row = (sketch_bytes or 0.0) + (_bytes_per_row(conn, schema, peer) or 0.0)
    common = {"key": target.key.ident, "table": target.table.ident,
              "code": sql.Identifier(target.code_column), "sketch": sql.Identifier(target.sketch_column),
              "peer": sql.Identifier(schema, peer.name)}

    def search(c: int | None) -> Callable[[np.ndarray, int], list]:
        def run(q: np.ndarray, n: int) -> list:
            score = plane_score(quantizer, quantizer.probe(q))
            if c is None:
                query = _sql.query("peer_planes_scan", score=score, n=sql.Literal(n), **common)
            else:
                bits = sketch_bits(q, target.sketch_planes)[0]
                query = _sql.query("peer_planes_search", score=score, n=sql.Literal(n), candidates=sql.Literal(c),
                                   ops=sql.Identifier(target.vector_schema), bits=sql.Literal(bits),
                                   width=sql.Literal(len(bits)), **common)
            return [r[0] for r in conn.execute(query)]
        return run

    if not index:
        return [Method(f"{peer.label}, exact scan", search(None), "no index", per_row, None, queries=EXACT_SCAN_QUERIES)]
    return [Method(f"{peer.label}", search(c), f"candidates {c}", per_row, index_bytes,
                   settings={"hnsw.ef_search": str(Options(candidates=c).hnsw_ef_search),
                             "hnsw.iterative_scan": "relaxed_order"}) for c in candidates]


def plane_score(q: planes.Quantizer, probe: planes.Probe) -> sql.Composable:
    """The score of a candidate ``c`` (its sketch, whose first plane is the sign bits) joined to its peer row ``p``
    (planes or scale ``v``), in SQL."""
    column = (sql.SQL("pg_catalog.substring(c.sketch, 1, {})").format(sql.Literal(len(q.lo))) if q.row_scale
              else sql.SQL("p.v"))
    terms = [sql.SQL("CAST({} AS pg_catalog.float8) * pg_catalog.bit_count(CAST({} AS pg_catalog.varbit) "
                     "OPERATOR(pg_catalog.&) {})").format(sql.Literal(coef), sql.Literal(bits), column)
             for coef, bits in probe.terms]
    total = sql.SQL("(CAST({} AS pg_catalog.float8) + {})").format(sql.Literal(probe.constant),
                                                                   sql.SQL(" + ").join(terms) if terms else sql.SQL("0"))
    return sql.SQL("p.v * {}").format(total) if q.row_scale else total

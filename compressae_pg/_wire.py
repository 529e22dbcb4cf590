"""pgvector's binary values and PostgreSQL's binary COPY framing, read and written with numpy.

Three readers share the layout here: training streams one vector column by COPY (:func:`copy_body`,
:func:`decode_tuples`); a backfill reads ``(tableoid, ctid, xmin, key::text, source)`` rows and writes
``(tableoid, ctid, xmin, code)`` rows back by COPY (:class:`RowBatch`, :func:`decode_batch`,
:func:`encode_codes`); a search fetches a hundred codes per query, kept as raw bytes by the psycopg
loaders at the end and read with one ``np.frombuffer`` (:func:`sparse_rows`).

The tuple identity ``(tableoid, ctid, xmin)`` travels unchanged from a backfill's read to its write:
the UPDATE matches a row only while that exact row version is still current, so a row someone changed
after it was read is never given a stale code.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from psycopg.adapt import AdaptersMap, Loader
from psycopg.pq import Format

from . import _vectors
from ._codes import Codes, SparseRows

COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" * 2
COPY_TRAILER = b"\xff\xff"
_PREFIX = struct.Struct(">hiIiIHiI")  # nfields, (len, tableoid), (len, block, offset), (len, xmin)
_INT = struct.Struct(">i")
_ELEMENT = {"vector": np.dtype(">f4"), "halfvec": np.dtype(">f2")}
_IDENTITY = [("tbl", ">u4"), ("l2", ">i4"), ("block", ">u4"), ("offset", ">u2"), ("l3", ">i4"), ("xmin", ">u4")]
_SPARSE_HEADER = 12  # int32 dimensions, int32 non-zeros, int32 unused; then indices, then values
_DENSE_HEADER = struct.Struct(">HH")  # dimensions, unused


# ---- COPY framing -------------------------------------------------------------------------------
def header_length(first: bytes | bytearray | memoryview) -> int:
    """Bytes of COPY header at the start of a binary COPY OUT stream's first message (0 if none)."""
    if bytes(first[:11]) != COPY_HEADER[:11]:
        return 0
    return 19 + int.from_bytes(first[15:19], "big")


def copy_body(buf: bytearray) -> memoryview:
    """The tuples of a whole binary COPY OUT stream, without header and trailer."""
    end = len(buf) - 2 if buf.endswith(COPY_TRAILER) else len(buf)
    return memoryview(buf)[header_length(buf) : end]


# ---- one vector column (training) ---------------------------------------------------------------
def decode_tuples(data: bytes | memoryview, typname: str, dim: int) -> tuple[np.ndarray, int, int]:
    """Decode the one-field tuples of a binary COPY of a vector/halfvec column (header and trailer removed).

    Returns the (n, dim) float32 array, how many rows had another dimension and how many were NULL
    (both left out). When
    every tuple has the expected size, one ``frombuffer`` parses them all: if each parsed header
    says "one field of this length", walking the tuples one by one finds these same boundaries.
    """
    elem = _ELEMENT[typname]
    body = 4 + elem.itemsize * dim
    rec = np.dtype([("nf", ">i2"), ("len", ">i4"), ("dim", ">i2"), ("unused", ">i2"), ("v", elem, (dim,))])
    if len(data) % rec.itemsize == 0:
        arr = np.frombuffer(data, dtype=rec)
        if ((arr["nf"] == 1) & (arr["len"] == body) & (arr["dim"] == dim)).all():
            return arr["v"].astype(np.float32), 0, 0
    rows = list(split_tuples(data))
    nulls = sum(1 for r in rows if _is_null(r))
    kept = [r for r in rows if len(r) == rec.itemsize and _row_dim(r) == dim]
    arr = np.frombuffer(b"".join(kept), dtype=rec) if kept else np.empty(0, dtype=rec)
    return arr["v"].astype(np.float32), len(rows) - len(kept) - nulls, nulls


def split_tuples(data: bytes | memoryview) -> Iterator[bytes]:
    view, at = memoryview(data), 0
    while at < len(view):
        length = int.from_bytes(view[at + 2 : at + 6], "big", signed=True)
        end = at + 6 + max(length, 0)
        yield bytes(view[at:end])
        at = end


def _row_dim(row: bytes | memoryview) -> int:
    return int.from_bytes(row[6:8], "big", signed=True)


def _is_null(row: bytes | memoryview) -> bool:
    """A binary COPY field of length -1 is SQL NULL."""
    return int.from_bytes(row[2:6], "big", signed=True) == -1


def first_dim(data: bytes | memoryview) -> int | None:
    """The dimension of the first non-NULL tuple (for a column declared without one), or None if all are NULL."""
    return next((_row_dim(r) for r in split_tuples(data) if not _is_null(r)), None)


# ---- backfill rows ------------------------------------------------------------------------------
@dataclass
class RowBatch:
    """Rows read for one batch: their identity, key text, and the sources that can be encoded.

    ``valid`` marks rows whose source is a finite, non-zero vector of the model's dimension;
    ``vectors`` holds those sources, in row order. ``invalid`` marks rows whose source is not NULL
    but cannot be encoded (zero, wrong dimension, NaN/Inf): their code is written as NULL.
    """

    identity: np.ndarray
    keys: list[bytes]
    vectors: np.ndarray
    valid: np.ndarray
    invalid: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def last_key(self) -> str | None:
        return self.keys[-1].decode() if self.keys else None

    def skipped_keys(self, coded: np.ndarray) -> list[str]:
        """Keys of the rows whose source is set but got no code (invalid, or an all-zero code)."""
        return [k.decode() for k, bad in zip(self.keys, self.invalid | (self.valid & ~coded)) if bad]


def strip_framing(rows: list[bytes]) -> list[bytes]:
    """The tuples of a binary COPY OUT stream (one per message), without header and trailer."""
    if rows:
        rows[0] = rows[0][header_length(rows[0]) :]
    if rows and rows[-1] == COPY_TRAILER:
        rows.pop()
    return [r for r in rows if r]


def decode_batch(rows: list[bytes], typname: str, dim: int) -> RowBatch:
    """Decode ``(tableoid, ctid, xmin, key::text, source)`` tuples of a vector/halfvec source."""
    n = len(rows)
    identity = np.zeros(n, dtype=[("tbl", "u4"), ("block", "u4"), ("offset", "u2"), ("xmin", "u4")])
    keys: list[bytes] = []
    sources: list[bytes] = []
    has_source = np.zeros(n, dtype=bool)
    null = np.zeros(n, dtype=bool)
    elem = _ELEMENT[typname]
    size = 4 + elem.itemsize * dim
    for i, row in enumerate(rows):
        _, _, tbl, _, block, offset, _, xmin = _PREFIX.unpack_from(row)
        identity[i] = (tbl, block, offset, xmin)
        (klen,) = _INT.unpack_from(row, _PREFIX.size)
        key_end = _PREFIX.size + 4 + klen
        keys.append(row[_PREFIX.size + 4 : key_end])
        (vlen,) = _INT.unpack_from(row, key_end)
        if vlen < 0:
            null[i] = True
        elif vlen == size:  # anything else has another dimension and stays invalid
            sources.append(row[key_end + 4 : key_end + 4 + vlen])
            has_source[i] = True
    rec = np.dtype([("dim", ">i2"), ("unused", ">i2"), ("v", elem, (dim,))])
    arr = np.frombuffer(b"".join(sources), dtype=rec) if sources else np.zeros(0, dtype=rec)
    vectors = arr["v"].astype(np.float32)
    usable = (arr["dim"] == dim) & _vectors.usable(vectors)
    valid = np.zeros(n, dtype=bool)
    valid[np.flatnonzero(has_source)[usable]] = True
    return RowBatch(identity=identity, keys=keys, vectors=vectors[usable], valid=valid, invalid=~valid & ~null)


def encode_codes(identity: np.ndarray, valid: np.ndarray, codes: Codes,
                 residuals: tuple[np.ndarray, int] | None = None) -> tuple[bytes, np.ndarray]:
    """A binary COPY stream of ``(tableoid, ctid, xmin, code, residual)``: the codes for ``valid`` rows, NULL for the rest.

    pgvector's binary sparsevec is ``dim, nnz, 0, indices[nnz] (0-based), values[nnz]`` and refuses
    zero values, so exact zeros are dropped; a code with no non-zero left is written as NULL. ``residuals``
    is the packed residual sketches of the codes' rows (:func:`compressae_pg._residual.sketch`) and their
    length in bits, written as PostgreSQL's binary ``bit`` (int32 bits, then the bytes); without it, and
    beside a NULL code, the residual is NULL. Returns the stream and the mask of rows that got a non-NULL code.
    """
    coded = valid.copy()
    parts = [COPY_HEADER]
    values = codes.values
    nnz = (values != 0).sum(axis=1)
    rows_valid = np.flatnonzero(valid)
    coded[rows_valid[nnz == 0]] = False
    packed, bits = residuals if residuals is not None else (None, 0)
    for width in np.unique(nnz[nnz > 0]):
        pick = nnz == width
        keep = values[pick] != 0
        rec = np.zeros(int(pick.sum()), dtype=_code_record(int(width), 0 if packed is None else packed.shape[1]))
        _fill_identity(rec, identity[rows_valid[pick]])
        rec["l4"], rec["dim"], rec["nnz"] = 12 + 8 * width, codes.h, width
        rec["idx"] = codes.indices[pick][keep].reshape(-1, width)
        rec["val"] = values[pick][keep].reshape(-1, width)
        if packed is None:
            rec["l5"] = -1
        else:
            rec["l5"], rec["bits"], rec["residual"] = 4 + packed.shape[1], bits, packed[pick]
        parts.append(rec.tobytes())
    if (~coded).any():
        rec = np.zeros(int((~coded).sum()), dtype=[("nf", ">i2"), ("l1", ">i4"), *_IDENTITY, ("l4", ">i4"), ("l5", ">i4")])
        _fill_identity(rec, identity[~coded])
        rec["l4"] = rec["l5"] = -1
        parts.append(rec.tobytes())
    parts.append(COPY_TRAILER)
    return b"".join(parts), coded


def _code_record(width: int, residual_bytes: int) -> np.dtype:
    residual = [("bits", ">i4"), ("residual", "u1", (residual_bytes,))] if residual_bytes else []
    return np.dtype(
        [("nf", ">i2"), ("l1", ">i4"), *_IDENTITY, ("l4", ">i4"), ("dim", ">i4"), ("nnz", ">i4"),
         ("unused", ">i4"), ("idx", ">i4", (width,)), ("val", ">f4", (width,)), ("l5", ">i4"), *residual]
    )


def _fill_identity(rec: np.ndarray, identity: np.ndarray) -> None:
    rec["nf"], rec["l1"], rec["l2"], rec["l3"] = 5, 4, 6, 4
    for name in ("tbl", "block", "offset", "xmin"):
        rec[name] = identity[name]


# ---- psycopg loaders (search) -------------------------------------------------------------------
class SparsevecBytesLoader(Loader):
    """``sparsevec`` (binary) → its bytes, for :func:`sparse_rows`."""

    format = Format.BINARY

    def load(self, data) -> bytes:
        return bytes(data)


class VectorLoader(Loader):
    """``vector`` (binary) → float32 array."""

    format = Format.BINARY
    element = ">f4"

    def load(self, data) -> np.ndarray:
        (dim, _) = _DENSE_HEADER.unpack_from(data)
        return np.frombuffer(data, self.element, dim, 4).astype(np.float32)


class HalfvecLoader(VectorLoader):
    """``halfvec`` (binary) → float32 array."""

    element = ">f2"


def sparse_rows(raws: Sequence[bytes]) -> SparseRows:
    """Binary ``sparsevec`` values as flat 0-based indices and values (one read when all have the same size)."""
    sizes = {len(r) for r in raws}
    if len(sizes) == 1:
        nnz = (sizes.pop() - _SPARSE_HEADER) // 8
        layout = np.dtype([("head", ">i4", 3), ("idx", ">i4", nnz), ("val", ">f4", nnz)])
        rows = np.frombuffer(b"".join(raws), layout)
        return SparseRows(rows["idx"].astype(np.int64).ravel(), rows["val"].astype(np.float32).ravel(),
                          np.full(len(raws), nnz, dtype=np.int64))
    lengths = np.array([(len(r) - _SPARSE_HEADER) // 8 for r in raws], dtype=np.int64)
    parts = [(np.frombuffer(r, ">i4", n, _SPARSE_HEADER), np.frombuffer(r, ">f4", n, _SPARSE_HEADER + 4 * n))
             for r, n in zip(raws, lengths.tolist())]
    return SparseRows(np.concatenate([i for i, _ in parts] or [np.zeros(0)]).astype(np.int64),
                      np.concatenate([v for _, v in parts] or [np.zeros(0)]).astype(np.float32), lengths)


class BitBytesLoader(Loader):
    """``bit`` (binary: int32 length in bits, then the bits, most significant first) → the bytes of the bits."""

    format = Format.BINARY

    def load(self, data) -> bytes:
        return bytes(data[4:])


BIT_OID = 1560  # PostgreSQL's own bit type


def install(adapters: AdaptersMap, oids: dict[str, int]) -> None:
    """Register the loaders for the type oids found in the database (``sparsevec``, ``vector``, ``halfvec``), and for ``bit``."""
    for name, loader in (("sparsevec", SparsevecBytesLoader), ("vector", VectorLoader), ("halfvec", HalfvecLoader)):
        if oids.get(name):
            adapters.register_loader(oids[name], loader)
    adapters.register_loader(BIT_OID, BitBytesLoader)

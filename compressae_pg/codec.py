"""Binary COPY rows of a backfill: decode the rows read from a table, encode the rows written back.

A backfill reads ``(tableoid, ctid, xmin, key::text, source)`` per row and writes
``(tableoid, ctid, xmin, code)`` into a temporary table. The tuple identity ``(tableoid, ctid, xmin)``
travels unchanged from one to the other: the UPDATE matches a row only while that exact row version
is still current, so a row that someone changed after it was read is never given a stale code.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from .model import Codes

COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" * 2
COPY_TRAILER = b"\xff\xff"
_PREFIX = struct.Struct(">hiIiIHiI")  # nfields, (len, tableoid), (len, block, offset), (len, xmin)
_INT = struct.Struct(">i")
_ELEMENT = {"vector": np.dtype(">f4"), "halfvec": np.dtype(">f2")}
_IDENTITY = [("tbl", ">u4"), ("l2", ">i4"), ("block", ">u4"), ("offset", ">u2"), ("l3", ">i4"), ("xmin", ">u4")]


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
    if rows and rows[0].startswith(COPY_HEADER[:11]):
        ext = int.from_bytes(rows[0][15:19], "big")
        rows[0] = rows[0][19 + ext :]
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
    usable = (arr["dim"] == dim) & np.isfinite(vectors).all(axis=1) & (vectors != 0).any(axis=1)
    valid = np.zeros(n, dtype=bool)
    valid[np.flatnonzero(has_source)[usable]] = True
    return RowBatch(identity=identity, keys=keys, vectors=vectors[usable], valid=valid, invalid=~valid & ~null)


def encode_codes(identity: np.ndarray, valid: np.ndarray, codes: Codes) -> tuple[bytes, np.ndarray]:
    """A binary COPY stream of ``(tableoid, ctid, xmin, code)``: the codes for ``valid`` rows, NULL for the rest.

    pgvector's binary sparsevec is ``dim, nnz, 0, indices[nnz] (0-based), values[nnz]`` and refuses
    zero values, so exact zeros are dropped; a code with no non-zero left is written as NULL. Returns
    the stream and the mask of rows that got a non-NULL code.
    """
    coded = valid.copy()
    parts = [COPY_HEADER]
    values = codes.values
    nnz = (values != 0).sum(axis=1)
    rows_valid = np.flatnonzero(valid)
    coded[rows_valid[nnz == 0]] = False
    for width in np.unique(nnz[nnz > 0]):
        pick = nnz == width
        keep = values[pick] != 0
        rec = np.zeros(int(pick.sum()), dtype=_code_record(int(width)))
        _fill_identity(rec, identity[rows_valid[pick]])
        rec["l4"], rec["dim"], rec["nnz"] = 12 + 8 * width, codes.h, width
        rec["idx"] = codes.indices[pick][keep].reshape(-1, width)
        rec["val"] = values[pick][keep].reshape(-1, width)
        parts.append(rec.tobytes())
    if (~coded).any():
        rec = np.zeros(int((~coded).sum()), dtype=[("nf", ">i2"), ("l1", ">i4"), *_IDENTITY, ("l4", ">i4")])
        _fill_identity(rec, identity[~coded])
        rec["l4"] = -1
        parts.append(rec.tobytes())
    parts.append(COPY_TRAILER)
    return b"".join(parts), coded


def _code_record(width: int) -> np.dtype:
    return np.dtype(
        [("nf", ">i2"), ("l1", ">i4"), *_IDENTITY, ("l4", ">i4"), ("dim", ">i4"), ("nnz", ">i4"),
         ("unused", ">i4"), ("idx", ">i4", (width,)), ("val", ">f4", (width,))]
    )


def _fill_identity(rec: np.ndarray, identity: np.ndarray) -> None:
    rec["nf"], rec["l1"], rec["l2"], rec["l3"] = 4, 4, 6, 4
    for name in ("tbl", "block", "offset", "xmin"):
        rec[name] = identity[name]

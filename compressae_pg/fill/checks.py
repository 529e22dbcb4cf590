"""Check stored codes against their model: re-encode a random sample of rows in Python and compare.

A code is right when it is exactly what a backfill would write for the row's current source: the
same atoms, values within ``tolerance`` (codes written by the SQL trigger agree with Python to about
1e-5), and NULL when the source is NULL or cannot be encoded. Where the attachment has a sketch
column, the row's sketch must be the source's sign bits exactly (and NULL where the code is); where it has a
residual sketch, that must be the one the code leaves (:mod:`compressae_pg._residual`), up to the few levels and
the last step of a scale by which one computed in SQL (the sync trigger) may differ; a NULL one beside a code is
*missing*, as after an upgrade to 0010 before the backfill.
Anything else is a *mismatch*, named by its key; a NULL code beside a source that can be encoded is *missing* (not yet backfilled, or lost).

:func:`drift` measures how well the stored codes of the sample reconstruct their sources (rows written since
training included) against the held-out cosine the model recorded when it was trained, and says when a new
version would pay: tables drift away from the rows a model learnt.
"""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from .. import _catalog, _residual, _sql, _vectors, registry
from .._attachment import Attachment
from .._codes import sketch_bits
from .._defaults import DRIFT_THRESHOLD, VERIFY_SAMPLE, VERIFY_TOLERANCE
from ..columns import attachments
from ..server import connect, resolve_dsn
from .encoder import Encoder

MAX_KEYS = 20


@dataclass
class Drift:
    """The stored codes' mean reconstruction cosine over a sample (``rows`` decoded; rows with a NULL code or a
    source that cannot be encoded are ``left_out``) against the model's recorded held-out ``val_cosine``."""

    rows: int
    left_out: int
    cosine: float | None
    recorded: float | None
    difference: float | None  # cosine - recorded: negative when the rows fare worse than the held-out ones
    retrain: bool
    verdict: str


def drift(rows: list[tuple], decoder: np.ndarray, info: registry.ModelInfo, att: Attachment,
          threshold: float = DRIFT_THRESHOLD) -> Drift:
    """:class:`Drift` of sampled rows (key, source, code, ...): each stored code decoded with the model's ``decoder``
    (h, d) and compared with its row's source by cosine; ``retrain`` when the mean is more than ``threshold`` below the record."""
    dim, h = decoder.shape[1], decoder.shape[0]
    cosines = []
    for _key, source, stored, *_ in rows:
        x = None if source is None else np.asarray(source.to_numpy(), dtype=np.float32)
        if stored is None or x is None or x.shape != (dim,) or stored.dimensions() != h or not _vectors.usable(x[None])[0]:
            continue
        decoded = np.asarray(stored.values(), dtype=np.float32) @ decoder[np.asarray(stored.indices(), dtype=np.int64)]
        cosines.append(float(decoded @ x / max(float(np.linalg.norm(decoded) * np.linalg.norm(x)), 1e-30)))
    cosine = float(np.mean(cosines)) if cosines else None
    recorded = info.metrics.get("val_cosine")
    difference = None if cosine is None or recorded is None else cosine - float(recorded)
    retrain = difference is not None and difference < -threshold
    if cosine is None:
        verdict = "no sampled row has both a code and a source: nothing to measure"
    elif recorded is None:
        verdict = f"stored codes reach cosine {cosine:.4f}; model {info.ref} records no held-out cosine to compare with"
    elif retrain:
        target = f"--table {shlex.quote(att.table.qualified)} --column {shlex.quote(att.source_column)}"
        verdict = (f"stored codes reach cosine {cosine:.4f}, {-difference:.4f} below the {float(recorded):.4f} model {info.ref} "
                   f"reached on held-out rows: a new version would pay: `compressae-pg train {target} --name "
                   f"{shlex.quote(info.name)}` then `compressae-pg recompress {target} --model {shlex.quote(info.name)}`")
    else:
        verdict = (f"stored codes reach cosine {cosine:.4f} against the {float(recorded):.4f} model {info.ref} reached on "
                   f"held-out rows (within {threshold:g}): no new version needed")
    return Drift(len(cosines), len(rows) - len(cosines), cosine, recorded, difference, retrain, verdict)


def measure_drift(conn: psycopg.Connection, att: Attachment, sample: int,
                  threshold: float = DRIFT_THRESHOLD) -> Drift:
    """:func:`drift` of ``sample`` random rows of an attachment (what ``status --drift`` shows)."""
    key = att.key
    info, sae = registry.load(conn, att.model.ref)
    rows = _sample(conn, att.table, key, att.source_column, att.code_column, None, None, sample)
    return drift(rows, sae.decoder.detach().cpu().numpy(), info, att, threshold)


@dataclass
class VerifyResult:
    """What :func:`verify` found. ``ok`` when no code is wrong or missing."""

    table: str
    code_column: str
    model: str
    checked: int = 0
    matching: int = 0
    mismatches: int = 0
    missing: int = 0
    unencodable: int = 0
    max_value_error: float = 0.0
    mismatched: list[dict[str, str]] = field(default_factory=list)
    missing_keys: list[str] = field(default_factory=list)
    drift: Drift | None = None

    @property
    def ok(self) -> bool:
        return self.mismatches == 0 and self.missing == 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}

    def add_mismatch(self, key: str, problem: str) -> None:
        self.mismatches += 1
        if len(self.mismatched) < MAX_KEYS:
            self.mismatched.append({"key": key, "problem": problem})


def verify(table: str, column: str, *, sample: int | None = VERIFY_SAMPLE, code_column: str | None = None,
           model: str | None = None, tolerance: float = VERIFY_TOLERANCE, drift_threshold: float = DRIFT_THRESHOLD,
           conn: psycopg.Connection | None = None, dsn: str | None = None) -> VerifyResult:
    """Re-encode ``sample`` random rows (None: every row) of ``table.column`` and compare with their codes; measure
    the same rows' :func:`drift` against the model's recorded held-out cosine."""
    if sample is not None and sample < 1:
        raise ValueError("sample must be a positive number of rows (or None for every row)")
    with connect(resolve_dsn(dsn, conn), autocommit=True, pinned=True, application_name="compressae-pg verify") as conn:
        att = attachments.get(conn, table, column, code_column=code_column, model=model)
        _catalog.refuse_owner_code(conn, att.table, writes=False)
        key = att.key
        info, sae = registry.load(conn, att.model.ref)
        rows = _sample(conn, att.table, key, att.source_column, att.code_column, att.sketch_column, att.residual_column, sample)
    result = VerifyResult(table=att.table.qualified, code_column=att.code_column, model=info.ref, checked=len(rows))
    _compare(rows, Encoder(sae, "cpu"), tolerance, result, sketch_planes=att.sketch_planes, planes=att.residual_planes)
    result.drift = drift(rows, sae.decoder.detach().cpu().numpy(), info, att, drift_threshold)
    return result


def _sample(conn: psycopg.Connection, table: _catalog.Table, key: _catalog.Column, source: str, code: str,
            sketch: str | None, residual: str | None, sample: int | None) -> list[tuple]:
    estimate = _catalog.estimated_rows(conn, table)
    percent = 100.0 if sample is None or estimate <= 4 * sample else 100.0 * 4 * sample / estimate
    as_text = lambda column: sql.SQL("t.{}::text").format(sql.Identifier(column)) if column else sql.NULL  # noqa: E731
    query = _sql.query("verify_sample", key=key.ident, source=sql.Identifier(source), code=sql.Identifier(code),
                       sketch=as_text(sketch), residual=as_text(residual),
                       table=table.ident, percent=sql.Literal(percent), limit=sql.Literal(sample))
    with conn.transaction(force_rollback=True):
        return conn.execute(query).fetchall()


MAX_LEVEL_FLIPS = 4  # levels of a residual sketch computed in SQL (float8, another order of sums) that may differ


def _residual_problem(stored: str | None, want: str, dim: int, planes: int) -> str | None:
    """Why the stored residual sketch (bit text) is not ``want``, or None when it is, up to SQL's rounding."""
    if stored is None:
        return "no residual sketch"
    if len(stored) != len(want):
        return f"a residual sketch of {len(stored)} bits, the attachment's has {len(want)}"
    flips = sum(a != b for a, b in zip(stored[: planes * dim], want[: planes * dim]))
    scales = [abs(int(stored[i : i + 16], 2) - int(want[i : i + 16], 2)) for i in (planes * dim, planes * dim + 16)]
    if flips > MAX_LEVEL_FLIPS or max(scales) > 1:
        return f"a residual sketch that is not the code's ({flips} bits of its planes differ, its scales by {max(scales)} steps)"
    return None


def _compare(rows: list[tuple], encoder: Encoder, tolerance: float, result: VerifyResult, sketch_planes: int,
             planes: int = 0) -> None:
    """Each row against its source re-encoded; ``sketch_planes`` is the sketch column's (0: none), ``planes`` the residual's."""
    dim, h = encoder.model.dim, encoder.model.h
    sources = [None if s is None else np.asarray(s.to_numpy(), dtype=np.float32) for _k, s, _c, _b, _r in rows]
    usable = [s is not None and s.shape == (dim,) and bool(_vectors.usable(s[None])[0]) for s in sources]
    picked = [i for i, u in enumerate(usable) if u]
    codes = encoder.codes(np.stack([sources[i] for i in picked]) if picked else np.zeros((0, dim), np.float32))
    residuals = []
    if planes and picked:
        packed = encoder.residuals(np.stack([sources[i] for i in picked]), codes, planes)
        residuals = _residual.texts(packed, dim, planes)
    want = dict(zip(picked, range(len(picked))))
    for i, (key, source, stored, bits, residual) in enumerate(rows):
        if i not in want:
            if bits is not None or residual is not None:
                result.add_mismatch(key, "a sketch, but no code can be encoded from the source")
            elif stored is not None:
                result.add_mismatch(key, "a code, but the source is NULL" if source is None else "a code, but the source cannot be encoded")
            else:
                result.unencodable += source is not None
                result.matching += 1
            continue
        j = want[i]
        keep = codes.values[j] != 0
        if stored is None:
            result.missing += 1
            if len(result.missing_keys) < MAX_KEYS:
                result.missing_keys.append(key)
            continue
        problem = _difference(stored, codes.indices[j][keep], codes.values[j][keep], h, tolerance, result)
        if not problem and sketch_planes and bits != sketch_bits(sources[i], sketch_planes)[0]:
            problem = "no sketch" if bits is None else "a sketch that is not the source's"
        if not problem and planes and residual is None:
            result.missing += 1
            if len(result.missing_keys) < MAX_KEYS:
                result.missing_keys.append(key)
            continue
        if not problem and planes:
            problem = _residual_problem(residual, residuals[j], dim, planes)
        if problem:
            result.add_mismatch(key, problem)
        else:
            result.matching += 1


def _difference(stored, indices: np.ndarray, values: np.ndarray, h: int, tolerance: float, result: VerifyResult) -> str | None:
    """Why ``stored`` is not the code (indices, values), or None when it is."""
    if stored.dimensions() != h:
        return f"a code of dimension {stored.dimensions()}, the model's is {h}"
    got = np.asarray(stored.indices(), dtype=np.int64)
    if not np.array_equal(got, indices):
        return f"other atoms ({len(np.setdiff1d(got, indices))} of {len(got)} differ)"
    error = float(np.abs(np.asarray(stored.values(), dtype=np.float32) - values).max()) if len(values) else 0.0
    result.max_value_error = max(result.max_value_error, error)
    return f"values differ by up to {error:.3g}" if error > tolerance else None

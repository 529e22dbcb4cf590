"""compressae.least_squares on a support with two identical atoms: solved as numpy and torch solve it, or refused by name."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
import torch

from compressae_pg import CompresSAE, Encoding, registry

from ..support.truth import sparse

DUP, TWIN = 3, 7  # decoder row TWIN is a copy of row DUP
RIDGE = 1e-4


def twin_model(x: np.ndarray, *, norm: float = 1.0) -> CompresSAE:
    """A refit model (k=8 of 256) whose decoder rows DUP and TWIN are identical, and whose encoder picks both for x."""
    model = CompresSAE(384, 256, 8, seed=0, encoding=Encoding(refit=True)).eval()
    with torch.no_grad():
        model.decoder[TWIN] = model.decoder[DUP]
        model.decoder[[DUP, TWIN]] *= norm
        unit = torch.as_tensor(x / np.linalg.norm(x))
        model.encoder[DUP], model.encoder[TWIN] = 6 * unit, 5 * unit  # |pre| 6 and 5, far above the rest: DUP first
    return model


def numpy_code(model: CompresSAE, x: np.ndarray) -> dict[int, float]:
    """The stored code computed independently in float64 numpy: top-k |W x + b|, ridge least squares, unit decode."""
    w = model.encoder.detach().double().numpy()
    b = model.encoder_bias.detach().double().numpy()
    dec = model.decoder.detach().double().numpy()
    xn = x.astype(np.float64) / np.linalg.norm(x)
    support = np.argsort(-np.abs(w @ xn + b))[: model.k]
    atoms = dec[support]
    values = np.linalg.solve(atoms @ atoms.T + RIDGE * np.eye(len(support)), atoms @ xn)
    values /= np.linalg.norm(values @ atoms)
    return dict(zip(support.tolist(), values.tolist()))


def test_two_identical_unit_atoms_share_the_value_and_sql_numpy_torch_agree(conn, real_vectors):
    x = real_vectors[5100]
    model = twin_model(x)
    expected = numpy_code(model, x)
    assert DUP in expected and TWIN in expected  # the support really holds both twins
    registry.save(conn, "twins", model)
    idx, val = sparse(conn.execute("SELECT compressae.encode('twins', %s)", (x,)).fetchone()[0])
    got = dict(zip(idx.tolist(), val.tolist()))
    assert sorted(got) == sorted(expected)
    np.testing.assert_allclose([got[i] for i in sorted(got)], [expected[i] for i in sorted(expected)], atol=2e-4)
    assert got[DUP] == pytest.approx(got[TWIN], abs=1e-5)  # the ridge splits one atom's weight evenly
    # Without the twin, plain least squares gives the pair's one atom the sum of their two values.
    support = sorted(set(expected) - {TWIN})
    atoms = model.decoder.detach().double().numpy()[support]
    xn = x.astype(np.float64) / np.linalg.norm(x)
    single = np.linalg.lstsq(atoms.T, xn, rcond=None)[0]
    single /= np.linalg.norm(single @ atoms)
    assert got[DUP] + got[TWIN] == pytest.approx(single[support.index(DUP)], abs=2e-3)
    torch_code = model.compress(x)
    np.testing.assert_array_equal(torch_code.indices[0], idx)
    np.testing.assert_allclose(torch_code.values[0], val, atol=2e-4)


def test_identical_atoms_beyond_float4_precision_are_refused_by_name(conn, real_vectors):
    """Twins of norm 100: the pivot (~2e-4) is below the float4 noise of a 1e4 Gram entry, so the fit would be noise."""
    x = real_vectors[5100]
    registry.save(conn, "big_twins", twin_model(x, norm=100.0))
    with pytest.raises(psycopg.errors.DataException, match="numerically dependent atoms in the support of model") as err:
        conn.execute("SELECT compressae.encode('big_twins', %s)", (x,))
    assert f"atom {TWIN} is a combination of atoms {{{DUP}}} " in str(err.value)
    assert "renormalise" in (err.value.diag.message_hint or "")


def test_downgrading_0004_restores_the_unguarded_function_and_upgrading_brings_the_guard_back(dsn):
    from compressae_pg import _migrate

    def body() -> str:
        with psycopg.connect(dsn, autocommit=True) as c:
            return c.execute("SELECT prosrc FROM pg_proc WHERE oid = 'compressae.least_squares(bigint, vector, integer[])'::regprocedure").fetchone()[0]

    assert "numerically dependent atoms" in body()
    _migrate.downgrade(dsn, "0003_hardening")
    assert "numerically dependent atoms" not in body() and "sqrt(s)" in body()
    _migrate.upgrade(dsn)
    assert "numerically dependent atoms" in body()

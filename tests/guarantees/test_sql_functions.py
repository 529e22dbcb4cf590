"""compressae.encode/decode/project/similarity compute inside Postgres what CompresSAE computes in torch."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
import torch
from pgvector import HalfVector, SparseVector, Vector
from psycopg import sql

from compressae_pg import Codes, CompresSAE, Encoding, registry

from ..support.tables import create_table
from ..support.truth import cos, numpy_values, sparse

TIE_GAP = 1e-6  # |pre| gap at the k-th place below which float32 summation order may swap two atoms


@pytest.fixture(scope="module")
def trained(real_vectors) -> CompresSAE:
    """A 384 → 4096, k=32 model after a few real training steps (so biases and atoms are not at init)."""
    torch.manual_seed(0)
    model = CompresSAE(384, 4096, 32, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.as_tensor(real_vectors[:4000])
    for _ in range(15):
        batch = x[torch.randint(0, len(x), (1024,))]
        loss = model.loss(batch)["loss"]
        opt.zero_grad()
        loss.backward()
        model.project_decoder_grad()
        opt.step()
        model.normalize_decoder()
    model.eval()
    return model


@pytest.fixture
def items(conn, trained, real_vectors):
    """Table ``items`` of 300 real vectors the model never trained on, and the model stored as ``m``."""
    registry.save(conn, "m", trained)
    vectors = real_vectors[5000:5300]
    create_table(conn, "items", vectors)
    return vectors


def to_sparsevec(indices: np.ndarray, values: np.ndarray, h: int) -> SparseVector:
    return SparseVector(dict(zip(indices.tolist(), values.tolist())), h)


def boundary_gap(model: CompresSAE, x: np.ndarray) -> float:
    """|pre|_(k) − |pre|_(k+1) in float64: how close the k-th atom is to a tie with the next one."""
    w = model.encoder.detach().double().numpy()
    b = model.encoder_bias.detach().double().numpy()
    x = x.astype(np.float64) / np.linalg.norm(x)
    mags = np.sort(np.abs(w @ x + b))[::-1]
    return float(mags[model.k - 1] - mags[model.k])


def sql_codes(conn) -> list[SparseVector]:
    return [r[0] for r in conn.execute("SELECT compressae.encode('m', embedding) FROM items ORDER BY id").fetchall()]


def test_encode_gives_the_codes_compress_gives(conn, trained, items):
    ref = trained.compress(items)
    ties = 0
    for i, code in enumerate(sql_codes(conn)):
        assert code.dimensions() == 4096
        idx, val = sparse(code)
        if not np.array_equal(idx, ref.indices[i]):
            # Only an exact tie at the k-th place may differ, and then by one atom swapped.
            assert boundary_gap(trained, items[i]) < TIE_GAP, f"row {i}: SQL picked other atoms than torch"
            assert len(np.setdiff1d(idx, ref.indices[i])) == 1
            ties += 1
            continue
        np.testing.assert_allclose(val, ref.values[i], atol=1e-4, rtol=0)
        assert np.all(np.sign(val) == np.sign(ref.values[i]))
    assert ties <= 3


def test_codes_decode_to_unit_vectors_that_match_decompress(conn, trained, items):
    codes = sql_codes(conn)
    decoded = np.stack([r[0].to_numpy() for r in conn.execute(
        "SELECT compressae.decode('m', compressae.encode('m', embedding)) FROM items ORDER BY id").fetchall()])
    parsed = [sparse(c) for c in codes]
    ref = trained.decompress(Codes(np.stack([p[0] for p in parsed]), np.stack([p[1] for p in parsed]), 4096))
    np.testing.assert_allclose(decoded, ref, atol=1e-4, rtol=0)
    np.testing.assert_allclose(np.linalg.norm(decoded, axis=1), 1, atol=1e-4)
    # and a code made in Python decodes in SQL to the same vector
    py = trained.compress(items[:5])
    for i in range(5):
        (v,) = conn.execute("SELECT compressae.decode('m@1', %s)", (to_sparsevec(py.indices[i], py.values[i], 4096),)).fetchone()
        np.testing.assert_allclose(v.to_numpy(), trained.decompress(py)[i], atol=1e-4, rtol=0)


def test_project_is_the_query_on_every_atom(conn, trained, items):
    q = items[:5]
    rows = [conn.execute("SELECT compressae.project('m', %s)", (x,)).fetchone()[0] for x in q]
    dense = np.stack([r.to_numpy() for r in rows])
    np.testing.assert_allclose(dense, trained.project(q), atol=1e-4, rtol=0)
    # the asymmetric score: project(q) · s = q · decode(s)
    codes = sql_codes(conn)[5:15]
    for proj, x in zip(rows, q):
        for code in codes:
            (score,) = conn.execute("SELECT -(%s::sparsevec <#> %s::sparsevec)", (proj, code)).fetchone()
            idx, val = sparse(code)
            assert score == pytest.approx(float(x @ trained.decompress(Codes(idx[None], val[None], 4096))[0]), abs=1e-4)


def kernel(model: CompresSAE, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """K[a, b] of the decoder's Gram matrix K = W_dec W_decᵀ, in float64 numpy."""
    w = model.decoder.detach().double().numpy()
    return w[a] @ w[b].T


def test_similarity_is_the_kernel_cosine_of_two_codes(conn, trained, items):
    codes = sql_codes(conn)[:8]
    for a, b in zip(codes, codes[1:] + codes[:1]):
        (got,) = conn.execute("SELECT compressae.similarity('m', %s, %s)", (a, b)).fetchone()
        (ia, va), (ib, vb) = sparse(a), sparse(b)
        ab = va @ kernel(trained, ia, ib) @ vb
        aa = va @ kernel(trained, ia, ia) @ va
        bb = vb @ kernel(trained, ib, ib) @ vb
        assert got == pytest.approx(float(ab / np.sqrt(aa * bb)), abs=1e-4)
    (same,) = conn.execute("SELECT compressae.similarity('m', %s, %s)", (codes[0], codes[0])).fetchone()
    assert same == pytest.approx(1.0, abs=1e-6)


def test_halfvec_vectors_encode_and_project_like_torch_on_their_half_precision_values(conn, trained, items):
    rng = np.random.default_rng(0)
    for x in items[:5]:
        x = (x + rng.normal(0, 1e-3, x.shape)).astype(np.float32)  # the sample is float16 already: leave its grid
        half = x.astype(np.float16).astype(np.float32)  # what a halfvec holds
        assert not np.array_equal(half, x)  # so the torch reference below really is of the halfvec's values
        (code, proj) = conn.execute("SELECT compressae.encode('m', %s::halfvec), compressae.project('m', %s::halfvec)",
                                    (HalfVector(x), HalfVector(x))).fetchone()
        want = trained.compress(half[None])
        idx, val = sparse(code)
        np.testing.assert_array_equal(idx, want.indices[0])
        np.testing.assert_allclose(val, want.values[0], atol=1e-4, rtol=0)
        np.testing.assert_allclose(proj.to_numpy(), trained.project(half[None])[0], atol=1e-4, rtol=0)


def test_model_references_pick_a_version(conn, trained, items):
    registry.save(conn, "m", CompresSAE(384, 256, 8, seed=1))
    newest, first = conn.execute("SELECT compressae.encode('m', embedding), compressae.encode('m@1', embedding) FROM items LIMIT 1").fetchone()
    assert (newest.dimensions(), first.dimensions()) == (256, 4096)
    assert sparse(first)[0].tolist() == trained.compress(items[:1]).indices[0].tolist()


def test_null_in_null_out(conn, items):
    row = conn.execute(
        "SELECT compressae.encode('m', NULL::vector), compressae.encode(NULL, embedding), compressae.decode('m', NULL),"
        " compressae.project('m', NULL::vector), compressae.similarity('m', NULL, compressae.encode('m', embedding))"
        " FROM items LIMIT 1"
    ).fetchone()
    assert row == (None,) * 5


@pytest.mark.parametrize(
    "query, error, message",
    [
        ("SELECT compressae.encode('m', %s)", psycopg.errors.DataException, r"model m@1 expects 384-dimensional vectors, got 3"),
        ("SELECT compressae.project('m', %s)", psycopg.errors.DataException, r"model m@1 expects 384-dimensional vectors, got 3"),
        ("SELECT compressae.encode('nope', %s)", psycopg.errors.UndefinedObject, r"unknown model 'nope'"),
        ("SELECT compressae.encode('m@7', %s)", psycopg.errors.UndefinedObject, r"unknown model 'm@7'"),
        ("SELECT compressae.encode('m@x', %s)", psycopg.errors.InvalidParameterValue, r"expected name or name@version"),
    ],
)
def test_bad_references_and_dimensions_are_named(conn, items, query, error, message):
    with pytest.raises(error, match=message):
        conn.execute(query, (np.ones(3, dtype=np.float32),) if "'m'" in query else (items[0],))


def test_bad_vectors_are_refused_by_name(conn, items):
    zero = np.zeros(384, dtype=np.float32)
    with pytest.raises(psycopg.errors.DataException, match="all-zero vector"):
        conn.execute("SELECT compressae.encode('m', %s)", (zero,))
    with pytest.raises(psycopg.errors.DataException, match="all-zero vector"):
        conn.execute("SELECT compressae.project('m', %s)", (zero,))
    for bad, word in ((np.nan, "NaN"), (np.inf, "infinite")):
        x = items[0].copy()
        x[7] = bad
        with pytest.raises(psycopg.errors.DataException, match=f"{word} .*not allowed in vector"):
            conn.execute("SELECT compressae.encode('m', %s)", (x,))
        text = "[" + ",".join(str(v) for v in x) + "]"
        with pytest.raises(psycopg.errors.DataException, match=f"{word} .*not allowed in vector"):
            conn.execute("SELECT compressae.encode('m', %s::vector)", (text,))


def test_bad_codes_are_refused_by_name(conn, items):
    with pytest.raises(psycopg.errors.DataException, match="model m@1 has 4096 atoms but the code has 10 dimensions"):
        conn.execute("SELECT compressae.decode('m', '{1:1}/10')")
    with pytest.raises(psycopg.errors.DataException, match="has 4096 atoms but the code has 10"):
        conn.execute("SELECT compressae.similarity('m', compressae.encode('m', embedding), '{1:1}/10') FROM items LIMIT 1")
    with pytest.raises(psycopg.errors.DataException, match="code b decodes to the zero vector"):
        conn.execute("SELECT compressae.similarity('m', compressae.encode('m', embedding), '{}/4096') FROM items LIMIT 1")
    (empty,) = conn.execute("SELECT compressae.decode('m', '{}/4096')").fetchone()
    assert not empty.to_numpy().any() and len(empty.to_numpy()) == 384


# The schema's SECURITY DEFINER functions, both triggers: that of compressae.attachments that deletes a deleted
# attachment's queue entries, which row-level security hides from every other role (0015_queue_upkeep), and the
# one that gives a new row an id its sequence drew, which the inserting roles may not use (0019_filter_ids_keys), and
# the one that deletes the rows a statement marked doomed, which no granted role may delete itself (0022_no_table_locks).
DEFINERS = {"forget_queue", "assign_id", "delete_doomed", "make_lock_salt"}


def test_functions_are_invoker_with_a_pinned_search_path(conn):
    rows = conn.execute(
        "SELECT p.proname, p.prosecdef, p.proconfig, p.proacl::text[] FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = 'compressae'"
    ).fetchall()
    names = {r[0] for r in rows}
    assert {"encode", "decode", "project", "similarity"} <= names
    for name, secdef, config, acl in rows:
        assert secdef == (name in DEFINERS), name
        if secdef:  # PUBLIC may not EXECUTE it (an ACL entry '=X/...' grants PUBLIC), so no role can run it
            assert acl is not None and not any(entry.startswith("=") for entry in acl), (name, acl)
        assert any(c.startswith("search_path=pg_catalog,") and c.endswith("pg_temp") for c in config or []), name


def test_a_callers_settings_cannot_change_the_result(conn, trained, items):
    query = ("SELECT compressae.encode('m', embedding), compressae.decode('m', compressae.encode('m', embedding)),"
             " compressae.project('m', embedding) FROM items ORDER BY id LIMIT 1")
    before = conn.execute(query).fetchone()
    idx, val = sparse(before[0])
    want = trained.compress(items[:1])
    np.testing.assert_array_equal(idx, want.indices[0])  # before is right, independently of SQL
    np.testing.assert_allclose(val, want.values[0], atol=1e-4, rtol=0)
    # Shadows of what encode/decode/project really call: abs(float8) from pg_catalog, and pgvector's
    # l2_normalize, <#> (vector, vector) and + (vector, vector), all put before pg_catalog and pgvector.
    conn.execute("CREATE SCHEMA evil")
    conn.execute("CREATE FUNCTION evil.l2_normalize(vector) RETURNS vector LANGUAGE sql AS 'SELECT $1 OPERATOR(public.+) $1'")
    conn.execute("CREATE FUNCTION evil.abs(float8) RETURNS float8 LANGUAGE sql AS 'SELECT 0::float8'")
    conn.execute("CREATE FUNCTION evil.ip(vector, vector) RETURNS float8 LANGUAGE sql AS 'SELECT 42::float8'")
    conn.execute("CREATE FUNCTION evil.add(vector, vector) RETURNS vector LANGUAGE sql AS 'SELECT $1'")
    conn.execute("CREATE OPERATOR evil.<#> (LEFTARG = vector, RIGHTARG = vector, FUNCTION = evil.ip)")
    conn.execute("CREATE OPERATOR evil.+ (LEFTARG = vector, RIGHTARG = vector, FUNCTION = evil.add)")
    conn.execute("SET search_path = evil, pg_catalog, public")
    # The shadows are live for any query that does not pin its search_path ...
    assert conn.execute("SELECT abs(-2::float8), '[1,2]'::vector <#> '[3,4]'::vector, '[1,2]'::vector + '[3,4]'::vector,"
                        " l2_normalize('[3,4]'::vector)").fetchone() == (0.0, 42.0, Vector([1, 2]), Vector([6, 8]))
    conn.execute("SET extra_float_digits = -15")  # real and float8 print with 1-2 digits
    # ... and change nothing inside the package's functions.
    assert conn.execute(query).fetchone() == before


def test_a_role_that_is_not_superuser_can_use_every_function(conn, dsn, login_role, trained, items):
    """Each function, called by a plain role on rows 1 and 2, gives what numpy computes from the model's atoms:
    the codes' cosine, the decoded norm (1: codes are scaled so), and the negated q̂·x̂ of project's <#>."""
    conn.execute(sql.SQL("GRANT SELECT ON items TO {}").format(sql.Identifier(login_role)))
    with psycopg.connect(dsn, user=login_role, autocommit=True) as app:
        assert not app.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
        got = app.execute(
            "WITH r AS (SELECT id, embedding AS x, compressae.encode('m', embedding) AS c FROM items WHERE id IN (1, 2))"
            " SELECT compressae.similarity('m', a.c, b.c), vector_norm(compressae.decode('m', a.c)),"
            " compressae.project('m', a.x) <#> a.c FROM r a, r b WHERE a.id = 1 AND b.id = 2"
        ).fetchone()
    dec = trained.decoder.detach().double().numpy()
    a, b = (numpy_values(trained, x, idx.tolist()) @ dec[idx] for x, idx in zip(items[:2], trained.compress(items[:2]).indices))
    qa = items[0].astype(np.float64) / np.linalg.norm(items[0])
    np.testing.assert_allclose(got, [cos(a, b[None, :])[0], np.linalg.norm(a), -(qa @ a)], atol=1e-5, rtol=0)


def pursuit_gap(model: CompresSAE, x: np.ndarray) -> float:
    """|corr|_(p) − |corr|_(p+1) of the pursuit stage: how close its last pick is to a tie."""
    t = torch.as_tensor(x[None, :])
    with torch.no_grad():
        first = model.topk(t, model.k - model.encoding.pursuit)[1]
        residual = torch.nn.functional.normalize(t, dim=1) - model.decode_sparse(model.least_squares(t, first), first)
        corr = (residual @ model.decoder.t()).abs().scatter(1, first, -1.0)[0].double().numpy()
    mags = np.sort(corr)[::-1]
    p = model.encoding.pursuit
    return float(mags[p - 1] - mags[p])


@pytest.mark.parametrize("encoding", [Encoding(refit=True), Encoding(refit=True, pursuit=8), Encoding(refit=True, pursuit=16, stages=2)],
                         ids=["refit", "pursuit", "pursuit-in-2-stages"])
def test_encode_computes_refined_codes_exactly_as_compress(conn, trained, items, encoding):
    refined = CompresSAE.from_bytes(trained.to_bytes())
    refined.encoding = encoding
    registry.save(conn, "refined", refined)
    ref = refined.compress(items)
    rows = conn.execute("SELECT compressae.encode('refined', embedding) FROM items ORDER BY id").fetchall()
    ties = 0
    for i, (code,) in enumerate(rows):
        idx, val = sparse(code)
        if not np.array_equal(idx, ref.indices[i]):
            near_tie = boundary_gap(refined, items[i]) < TIE_GAP or (encoding.pursuit and pursuit_gap(refined, items[i]) < 1e-5)
            assert near_tie, f"row {i}: SQL picked other atoms than torch"
            ties += 1
            continue
        np.testing.assert_allclose(val, ref.values[i], atol=1e-4, rtol=0)
    assert ties <= 3
    decoded = np.stack([r[0].to_numpy() for r in conn.execute(
        "SELECT compressae.decode('refined', compressae.encode('refined', embedding)) FROM items ORDER BY id").fetchall()])
    cos_sql = (decoded * (items / np.linalg.norm(items, axis=1, keepdims=True))).sum(axis=1)
    # The paper codes from SQL, decoded in numpy: the refined codes must reconstruct better.
    paper = [sparse(r[0]) for r in conn.execute("SELECT compressae.encode('m', embedding) FROM items ORDER BY id")]
    want = trained.compress(items)
    same = [i for i, (idx, _v) in enumerate(paper) if np.array_equal(idx, want.indices[i])]
    assert len(same) >= len(items) - 3  # only near-ties may pick another atom (as in the first test)
    np.testing.assert_allclose(np.stack([paper[i][1] for i in same]), want.values[same], atol=1e-4, rtol=0)
    dec = trained.decoder.detach().numpy()
    paper_decoded = np.stack([val @ dec[idx] for idx, val in paper])
    cos_paper = (paper_decoded * (items / np.linalg.norm(items, axis=1, keepdims=True))).sum(axis=1)
    assert cos_sql.mean() > cos_paper.mean() + 0.01  # refining is what it is for: closer reconstructions


def test_least_squares_in_sql_matches_torch(conn, trained, items):
    registry.save(conn, "m2", trained)
    x = torch.as_tensor(items[:3])
    _, idx = trained.topk(x)
    want = trained.least_squares(x, idx).detach().numpy()
    for row in range(3):
        (got,) = conn.execute(
            "SELECT compressae.least_squares((compressae.resolve_model('m2')).id, l2_normalize(%s::vector), %s)",
            (items[row].tolist(), idx[row].tolist()),
        ).fetchone()
        np.testing.assert_allclose(np.array(got), want[row], atol=1e-4)
        atoms = trained.decoder.detach().double().numpy()[idx[row].numpy()]
        xn = items[row].astype(np.float64) / np.linalg.norm(items[row])
        ridge = np.linalg.solve(atoms @ atoms.T + 1e-4 * np.eye(len(atoms)), atoms @ xn)  # plain numpy, no package code
        np.testing.assert_allclose(np.array(got), ridge, atol=1e-4)

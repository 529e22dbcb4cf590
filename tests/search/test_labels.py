"""Atom labels (compressae.atom_labels, 0013) and browsing one atom, against numpy over the stored codes."""

from __future__ import annotations

import json

import numpy as np
import psycopg
import pytest
from psycopg import sql

from compressae_pg import CompresSAE, CompressedColumn, NoLabelsError, RowSecurityError, UnknownTableError, registry
from compressae_pg.cli import main
from compressae_pg.search.labels import atom_labels, atom_rows, label_atoms
from compressae_pg.server import connect

from ..support.models import H, searchable, stored
from ..support.roles import as_user, grant, role  # noqa: F401  (role is a fixture)


def numpy_labels(keys: list, codes: np.ndarray, top: int) -> dict[int, tuple[int, float | None, list[str]]]:
    """Per atom: rows using it, their mean value, and the keys of the ``top`` largest values (ties: first key)."""
    out = {}
    for j in range(codes.shape[1]):
        used = np.flatnonzero(codes[:, j])
        order = sorted(used, key=lambda i: (-np.float32(codes[i, j]), i))[:top]
        out[j] = (len(used), float(codes[used, j].mean()) if len(used) else None, [str(keys[i]) for i in order])
    return out


def test_labels_equal_numpy_over_the_stored_codes_and_explain_shows_them(conn, dsn, model, real_vectors):
    searchable(conn, dsn, real_vectors[:300], model)
    conn.execute("UPDATE items SET category = 'row ' || id")
    keys, codes, _sources = stored(conn)
    got = label_atoms("items", "embedding", text_column="category", top=3, batch_size=37, conn=conn)  # 9 batches
    want = numpy_labels(keys, codes, 3)
    assert got.rows == len(keys) and len(got.atoms) == H and got.text_column == "category"
    for label in got.atoms:
        uses, mean, top = want[label.atom]
        assert label.uses == uses and list(label.keys) == top, label.atom
        assert (label.mean_value is None) == (mean is None)
        if mean is not None:
            assert label.mean_value == pytest.approx(mean, abs=1e-5)
        assert list(label.texts) == [f"row {k}" for k in top]
        np.testing.assert_allclose(label.values, [codes[keys.index(int(k)), label.atom] for k in top], atol=1e-6)
    assert atom_labels("items", "embedding", conn=conn) == got  # as stored
    again = label_atoms("items", "embedding", conn=conn)  # replaces them: no texts now
    assert again.text_column is None and all(a.texts is None for a in again.atoms)
    assert conn.execute("SELECT count(*) FROM compressae.atom_labels").fetchone()[0] == H
    busiest = max(again.atoms, key=lambda a: a.uses)
    rows = atom_rows("items", "embedding", busiest.atom, text_column="category", top=4, conn=conn)
    col = codes[:, busiest.atom]
    best = sorted(np.flatnonzero(col), key=lambda i: (-col[i], keys[i]))[:4]
    assert [r.key for r in rows] == [str(keys[i]) for i in best]
    np.testing.assert_allclose([r.value for r in rows], col[best], atol=1e-6)
    assert [r.text for r in rows] == [f"row {keys[i]}" for i in best]
    q = real_vectors[5000]
    e = CompressedColumn(conn, "items", "embedding").explain(q, keys[0])
    assert all(a.label == again.atoms[a.atom] for a in e.atoms)


def test_hostile_names_and_bad_arguments(conn, dsn, model, real_vectors):
    table, column = 'it"ems; drop %s', "emb'ed {x}"
    searchable(conn, dsn, real_vectors[:60], model, table=table, column=column, category="ca%t\"x", key="k ey")
    keys, codes, _ = stored(conn, table=table, column=column, code=f"{column}_sae", key="k ey")
    got = label_atoms(table, column, text_column="ca%t\"x", top=2, conn=conn)
    want = numpy_labels(keys, codes, 2)
    assert all(list(a.keys) == want[a.atom][2] and a.uses == want[a.atom][0] for a in got.atoms)
    with pytest.raises(UnknownTableError, match="nope"):
        label_atoms(table, column, text_column="nope", conn=conn)
    with pytest.raises(ValueError, match="atom must be an integer from 0 to"):
        atom_rows(table, column, H, conn=conn)
    with pytest.raises(ValueError, match="top must be a positive integer"):
        label_atoms(table, column, top=0, conn=conn)


def test_a_select_only_role_reads_labels_and_no_other_role_writes_them(conn, dsn, role, capsys, model, real_vectors):  # noqa: F811
    reader, other = role("reader"), role("other")
    grant(capsys, dsn, other)  # may write labels: of tables it may write
    att = searchable(conn, dsn, real_vectors[:50], model)
    with pytest.raises(NoLabelsError, match="no atom labels"):
        atom_labels("items", "embedding", conn=conn)
    stored_labels = label_atoms("items", "embedding", conn=conn)
    conn.execute(sql.SQL("GRANT SELECT ON items TO {}").format(sql.Identifier(reader)))
    assert atom_labels("items", "embedding", dsn=as_user(dsn, reader)) == stored_labels
    with connect(as_user(dsn, other), autocommit=True) as c:  # labels hold the table's keys: it may not read them
        assert c.execute("SELECT count(*) FROM compressae.atom_labels").fetchone()[0] == 0
        assert c.execute("UPDATE compressae.atom_labels SET uses = 0").rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # no granted role deletes rows it does not mark (0022)
            c.execute("DELETE FROM compressae.atom_labels")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            c.execute("INSERT INTO compressae.atom_labels (attachment_id, model_id, idx, uses, top_keys, top_values, rows_read)"
                      " VALUES (%s, %s, 0, 0, '{}', '{}', 0) ON CONFLICT DO NOTHING", (att.id, att.model.id))
    with connect(as_user(dsn, reader), autocommit=True) as c:  # SELECT on the table only: reads, never writes
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            label_atoms("items", "embedding", conn=c)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("DELETE FROM compressae.atom_labels")
    assert atom_labels("items", "embedding", conn=conn) == stored_labels


def test_the_cli_labels_reads_and_browses_and_search_explain_shows_the_labels(conn, dsn, capsys, model, real_vectors):
    searchable(conn, dsn, real_vectors[:200], model)
    conn.execute("UPDATE items SET category = 'text of ' || id")
    keys, codes, _sources = stored(conn)
    base = ["atoms", "--dsn", dsn, "--table", "items", "--column", "embedding"]
    capsys.readouterr()
    assert main([*base, "--text-column", "category", "--top", "2", "--json"]) == 0
    computed = json.loads(capsys.readouterr().out)
    want = numpy_labels(keys, codes, 2)
    assert computed["rows"] == len(keys) and len(computed["atoms"]) == H
    assert all(a["keys"] == want[a["atom"]][2] and a["texts"] == [f"text of {k}" for k in a["keys"]] for a in computed["atoms"])
    assert main([*base, "--stored", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == computed
    assert main([*base, "--stored"]) == 0
    text = capsys.readouterr().out.splitlines()
    used = [a for a in computed["atoms"] if a["uses"]]
    assert text[0].startswith(f"public.items.embedding_sae ({computed['model']}): {len(used)} of {H} atoms used by {len(keys)} coded rows")
    assert len(text) == 3 + len(used) and text[3].split()[:2] == [str(used[0]["atom"]), str(used[0]["uses"])]
    busiest = max(used, key=lambda a: a["uses"])["atom"]
    assert main([*base, "--atom", str(busiest), "--top", "3", "--text-column", "category", "--json"]) == 0
    col = codes[:, busiest]
    best = sorted(np.flatnonzero(col), key=lambda i: (-col[i], keys[i]))[:3]
    assert [r["key"] for r in json.loads(capsys.readouterr().out)] == [str(keys[i]) for i in best]
    assert main([*base, "--atom", str(H)]) == 2 and "atom must be an integer from 0 to" in capsys.readouterr().err
    q = real_vectors[5000]
    assert main(["search", "--dsn", dsn, "--table", "items", "--column", "embedding", "--vector", json.dumps(q.tolist()),
                 "--k", "1", "--explain", "--atoms", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    atom = int(lines[1].split()[1])
    assert lines[1].endswith("like: " + " | ".join(computed["atoms"][atom]["texts"][:3]))


def test_recompress_labels_the_new_version_as_the_old_one_was_labelled(conn, dsn, capsys, model, real_vectors):
    searchable(conn, dsn, real_vectors[:150], model)
    conn.execute("UPDATE items SET category = 'c' || id")
    before = label_atoms("items", "embedding", text_column="category", top=2, conn=conn)
    registry.save(conn, before.model.split("@")[0], CompresSAE(model.dim, H, model.k, seed=7).eval())
    new = f"{before.model.split('@')[0]}@2"
    capsys.readouterr()
    assert main(["recompress", "--dsn", dsn, "--table", "items", "--column", "embedding", "--model", new, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["labels"] == 150
    after = atom_labels("items", "embedding", conn=conn)
    keys, codes, _sources = stored(conn)
    want = numpy_labels(keys, codes, 2)  # the new model's codes, labelled with the same text column and top
    assert after.model == new and after.text_column == "category" and after.top == 2
    assert all(list(a.keys) == want[a.atom][2] and list(a.texts) == [f"c{k}" for k in a.keys] for a in after.atoms)
    kept = conn.execute("SELECT m.name || '@' || m.version, count(*) FROM compressae.atom_labels l "
                        "JOIN compressae.models m ON m.id = l.model_id GROUP BY 1").fetchall()
    assert kept == [(new, H)]  # the swap dropped the old codes, and with their attachment the labels that described them


def test_labels_stay_with_their_table_and_out_of_a_table_with_row_security(conn, dsn, role, model, real_vectors):  # noqa: F811
    searchable(conn, dsn, real_vectors[:40], model)
    label_atoms("items", "embedding", conn=conn)
    reader = role("reader")
    conn.execute(sql.SQL("GRANT SELECT ON items TO {}").format(sql.Identifier(reader)))
    seen = "SELECT count(*) FROM compressae.atom_labels"
    with connect(as_user(dsn, reader), autocommit=True) as c:
        assert c.execute(seen).fetchone() == (H,)
        conn.execute("ALTER TABLE items ENABLE ROW LEVEL SECURITY")  # labels computed before name rows it may now hide
        with pytest.raises(RowSecurityError, match="row-level security on"):
            label_atoms("items", "embedding", conn=conn)
        assert c.execute(seen).fetchone() == (0,)  # so they are out of sight while it is on
        conn.execute("ALTER TABLE items DISABLE ROW LEVEL SECURITY")
        assert c.execute(seen).fetchone() == (H,)
    other = role("mallory")
    conn.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(other)))
    conn.execute("DROP TABLE items")  # without a detach: the attachment and its labels stay behind
    with connect(as_user(dsn, other), autocommit=True) as c:  # the next table of that name, another role's
        c.execute("CREATE TABLE items (id bigint PRIMARY KEY)")
        assert c.execute("SELECT count(*) FROM compressae.atom_labels").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM compressae.atom_labels").fetchone()[0] == H  # still there (a superuser sees them)


def test_only_a_role_that_reads_and_updates_the_table_writes_its_labels(conn, dsn, role, capsys, model, real_vectors):  # noqa: F811
    writer = role("writer")
    grant(capsys, dsn, writer)
    searchable(conn, dsn, real_vectors[:40], model)
    conn.execute(sql.SQL("GRANT UPDATE ON items TO {}").format(sql.Identifier(writer)))
    label_atoms("items", "embedding", conn=conn)
    with connect(as_user(dsn, writer), autocommit=True) as c:  # UPDATE without SELECT: neither wipes nor plants
        assert c.execute("UPDATE compressae.atom_labels SET uses = 0").rowcount == 0
    assert conn.execute("SELECT count(*) FROM compressae.atom_labels").fetchone()[0] == H
    conn.execute(sql.SQL("GRANT SELECT ON items TO {}").format(sql.Identifier(writer)))
    with connect(as_user(dsn, writer), autocommit=True) as c:
        assert label_atoms("items", "embedding", top=2, conn=c).rows == 40


def test_keys_and_texts_are_written_by_their_types_output_function_never_a_cast(conn, dsn, model, real_vectors):
    searchable(conn, dsn, real_vectors[:30], model)
    conn.execute("CREATE TYPE mood AS ENUM ('calm', 'wild')")
    conn.execute("ALTER TABLE items ADD COLUMN feel mood DEFAULT 'calm'")
    conn.execute("CREATE FUNCTION planted(mood) RETURNS text LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'planted cast ran'; END $$")
    conn.execute("CREATE CAST (mood AS text) WITH FUNCTION planted(mood)")  # what a type's owner may plant for others to run
    with pytest.raises(psycopg.errors.RaiseException, match="planted cast ran"):
        conn.execute("SELECT feel::text FROM items LIMIT 1")  # the spy works
    got = label_atoms("items", "embedding", text_column="feel", top=1, conn=conn)
    assert {t for a in got.atoms if a.texts for t in a.texts} == {"calm"}
    busiest = max(got.atoms, key=lambda a: a.uses).atom
    assert {r.text for r in atom_rows("items", "embedding", busiest, text_column="feel", conn=conn)} == {"calm"}

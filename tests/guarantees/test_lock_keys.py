"""Advisory lock keys no other role can take first (0025, the review's L4): a role that may not work on an attachment
cannot compute its keys, and a key pg_locks showed it while held leads to no lock once let go."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from compressae_pg import BusyError, CompresSAE, _locks, registry, status, sync
from compressae_pg.cli import main
from compressae_pg.server import connect

from ..support.models import attach_model
from ..support.roles import as_user, grant, role  # noqa: F401  (role is a fixture)
from ..support.tables import create_table
from ..support.truth import check_codes

SHOWN = ("SELECT (l.classid::bigint << 32) | l.objid::bigint FROM pg_locks l "
         "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.pid = %s")


def _owned_attachment(conn, dsn, role, capsys, real_vectors):
    owner, squatter = role("owner"), role("squatter")
    grant(capsys, dsn, owner)
    grant(capsys, dsn, squatter)  # a `db grant` role, on another role's table
    with psycopg.connect(as_user(dsn, owner), autocommit=True) as oc:
        create_table(oc, "items", real_vectors[:20])
    att, _model = attach_model(conn, model=CompresSAE(384, 256, 8, seed=0).eval())
    conn.execute("ALTER TABLE items OWNER TO " + owner)
    return att, as_user(dsn, owner), as_user(dsn, squatter)


def _backfill(dsn: str) -> int:
    return main(["backfill", "--table", "items", "--column", "embedding", "--dsn", dsn, "--no-index"])


def test_a_role_that_may_not_work_on_the_table_cannot_read_the_salt_or_move_a_turn(conn, dsn, role, capsys, real_vectors):
    att, mine, theirs = _owned_attachment(conn, dsn, role, capsys, real_vectors)
    with psycopg.connect(theirs, autocommit=True) as sc:
        assert sc.execute("SELECT count(*) FROM compressae.lock_salts").fetchone() == (0,)
        assert sc.execute("UPDATE compressae.lock_salts SET turns = '{}'").rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            sc.execute("UPDATE compressae.lock_salts SET salt = 0")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            sc.execute("INSERT INTO compressae.lock_salts (attachment_id, salt) VALUES (%s, 0)", (att.id,))
        # the key of 0024, of the attachment's id alone, is no key of 0025's
        assert sc.execute("SELECT pg_try_advisory_lock(hashtextextended('compressae.backfill:' || %s::bigint, 0))",
                          (att.id,)).fetchone() == (True,)
        assert _backfill(theirs) == 2
        err = capsys.readouterr().err
        assert "is not one this role may work on" in err, err
        assert _backfill(mine) == 0
        conn.execute("GRANT SELECT ON items TO " + psycopg.conninfo.conninfo_to_dict(theirs)["user"])
        conn.execute("UPDATE compressae.backfill_jobs SET status = 'running' WHERE attachment_id = %s", (att.id,))  # its process died
        with psycopg.connect(mine) as oc:
            assert [a["backfill"]["state"] for a in status("items", conn=oc)] == ["interrupted"]
        # a reader cannot know the key, so cannot tell a run that died from one that runs
        assert [a["backfill"]["state"] for a in status("items", conn=sc)] == ["running or interrupted"]


@pytest.mark.parametrize("let_go", ["done", "died"])
def test_a_key_pg_locks_showed_a_squatter_stalls_no_backfill_once_let_go(conn, dsn, role, capsys, real_vectors, let_go):
    """A squatter reads the key of the owner's running backfill in pg_locks, and takes it as soon as the owner lets it
    go: when the owner's run ends (it moves the turn on) or its session dies (the next run finds the squatter and
    moves the turn on). Either way the next backfill runs, and a squatter holding every key it saw stalls none."""
    att, mine, theirs = _owned_attachment(conn, dsn, role, capsys, real_vectors)
    with psycopg.connect(theirs, autocommit=True) as sc:
        for _ in range(2):
            holding = psycopg.connect(mine, autocommit=True)
            hold = _locks.exclusive(holding, "backfill", att.id)
            hold.__enter__()
            pid = holding.info.backend_pid
            (seen,) = sc.execute(SHOWN, (pid,)).fetchone()
            assert seen == _locks.key(holding, "backfill", att.id)[1]
            if let_go == "done":
                hold.__exit__(None, None, None)
            holding.close()
            while sc.execute("SELECT count(*) FROM pg_locks WHERE pid = %s", (pid,)).fetchone()[0]:
                time.sleep(0.01)  # the session ends a moment after its client is gone
            assert sc.execute("SELECT pg_try_advisory_lock(%s)", (seen,)).fetchone() == (True,)
            assert _backfill(mine) == 0, capsys.readouterr().err
            capsys.readouterr()
        assert len(sc.execute("SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()").fetchall()) == 2


def test_a_backfill_running_in_a_role_that_may_work_on_the_table_is_named_in_one_line(conn, dsn, role, capsys, real_vectors):
    att, mine, _theirs = _owned_attachment(conn, dsn, role, capsys, real_vectors)
    owner = psycopg.conninfo.conninfo_to_dict(mine)["user"]
    with psycopg.connect(mine, autocommit=True) as holding, _locks.exclusive(holding, "backfill", att.id):
        assert _backfill(mine) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: a backfill of this code column is already running in backend pid {holding.info.backend_pid} "
                              f"(role {owner}") and err.endswith("; wait for it or stop it first") and "\n" not in err
        with pytest.raises(BusyError):  # a superuser too waits for the owner's run
            with _locks.exclusive(conn, "backfill", att.id):
                pass
    assert _backfill(mine) == 0


def test_a_key_given_up_for_a_squatter_is_looked_at_again(conn, dsn, role, capsys, real_vectors, monkeypatch):
    """The race of two takers: a squatter holds turn t; one taker finds it and moves on to turn t + 1, and just then
    the squatter lets go and another taker, that may work on the table, takes turn t. The first must see the second
    and stop, not run beside it."""
    att, mine, theirs = _owned_attachment(conn, dsn, role, capsys, real_vectors)
    with psycopg.connect(mine, autocommit=True) as other, psycopg.connect(theirs, autocommit=True) as sc:
        _turn, k = _locks.key(other, "backfill", att.id)
        assert sc.execute("SELECT pg_try_advisory_lock(%s)", (k,)).fetchone() == (True,)
        next_turn = _locks._next_turn

        def and_then_the_other_takes_it(*args):
            next_turn(*args)
            sc.execute("SELECT pg_advisory_unlock(%s)", (k,))
            assert other.execute("SELECT pg_try_advisory_lock(%s)", (k,)).fetchone() == (True,)

        monkeypatch.setattr(_locks, "_next_turn", and_then_the_other_takes_it)
        with pytest.raises(BusyError, match=f"backend pid {other.info.backend_pid} "):
            _locks._take(conn, "backfill", att.id)
        monkeypatch.setattr(_locks, "_next_turn", next_turn)
        # and with nobody on turn t, the taker holds a new turn (the squatter's key given up)
        other.execute("SELECT pg_advisory_unlock(%s)", (k,))
        assert sc.execute("SELECT pg_try_advisory_lock(%s)", (k,)).fetchone() == (True,)
        turn, held = _locks._take(conn, "backfill", att.id)
        assert held != k


def test_a_role_with_nothing_but_connect_holding_batch_keys_stalls_no_sync(conn, dsn, role, real_vectors):
    """The third review's M1: a sync worker skips a batch whose lock another session holds, and gives up after a few;
    with 0024's keys (the attachment's id and the batch's first key) a role with only CONNECT held the first key of
    each batch it would look at, and `sync --once` left every row uncoded. The salt makes those keys no worker's."""
    create_table(conn, "items", real_vectors[:300])
    att, model = attach_model(conn, sync="queue")
    nobody = role("nobody")
    with psycopg.connect(as_user(dsn, nobody), autocommit=True) as squatter:
        squatter.execute("SELECT pg_advisory_lock(hashtextextended('compressae.pending batch:' || %s::bigint || ':' || k, 0)) "
                         "FROM generate_series(1, 300) AS k", (att.id,))
        result = sync("items", "embedding", dsn=dsn, progress=False, batch_size=32)
        assert (result.rows_written, result.queue_left) == (300, 0)
    assert check_codes(conn, model) == 300


def test_a_role_holding_a_model_names_old_lock_stalls_no_training_and_two_saves_take_two_versions(conn, dsn, role):
    """A save of a model held an advisory lock named by the model's name, which any role could hold first: the
    owner's `train` then waited at its save, after all its training, until the holder let go. Saves now take the
    next version without a lock (the unique name and version decide), so two at once store two versions."""
    nobody = role("nobody")
    with psycopg.connect(as_user(dsn, nobody), autocommit=True) as squatter:
        squatter.execute("SELECT pg_advisory_lock(hashtextextended('compressae.models:m', 0))")
        conn.execute("SET lock_timeout = '2s'")
        assert registry.save(conn, "m", CompresSAE(384, 64, 4, seed=0).eval()).version == 1
    with connect(dsn) as first, connect(dsn, autocommit=True) as second:
        assert registry.save(first, "m", CompresSAE(384, 64, 4, seed=1).eval()).version == 2  # not committed yet
        saving = threading.Thread(target=lambda: got.append(registry.save(second, "m", CompresSAE(384, 64, 4, seed=2).eval())))
        got: list = []
        saving.start()
        time.sleep(0.5)  # the second waits on the first's version
        first.commit()
        saving.join(30)
    assert [g.version for g in got] == [3]
    assert [m.version for m in registry.list_models("m", conn=conn)] == [1, 2, 3]


def test_batch_keys_a_squatter_saw_in_pg_locks_stall_no_sync(conn, dsn, role, real_vectors):
    """The review of the change (F5): a batch's key has no turn, so one seen in pg_locks names that batch for good. A
    worker that finds a batch held looks at the holder, and takes the batch from a role that may not work on it."""
    create_table(conn, "items", real_vectors[:300])
    att, model = attach_model(conn, sync="queue")
    salt = _locks.salt(conn, att.id)  # what the squatter learned, key by key, from pg_locks
    with psycopg.connect(as_user(dsn, role("nobody")), autocommit=True) as squatter:
        squatter.execute("SELECT pg_advisory_lock(hashtextextended('compressae.pending batch:' || %s::bigint || ':' || %s::bigint "
                         "|| ':' || k, 0)) FROM generate_series(1, 300) AS k", (att.id, salt))
        result = sync("items", "embedding", dsn=dsn, progress=False, batch_size=32)
        assert (result.rows_written, result.queue_left) == (300, 0)
    assert check_codes(conn, model) == 300


def test_a_holder_that_set_its_role_to_the_owner_is_the_owners_worker(conn, dsn, role, capsys, real_vectors):
    """F6: the holder was judged by its session's user alone, so a member of the owner (without its privileges until
    it SETs ROLE) that held the backfill's lock was taken for a squatter, and a second backfill ran beside its."""
    att, mine, _theirs = _owned_attachment(conn, dsn, role, capsys, real_vectors)
    owner, member = psycopg.conninfo.conninfo_to_dict(mine)["user"], role("member")
    conn.execute(psycopg.sql.SQL("GRANT {} TO {} WITH INHERIT FALSE").format(psycopg.sql.Identifier(owner), psycopg.sql.Identifier(member)))
    as_owner = psycopg.conninfo.make_conninfo(as_user(dsn, member), options=f"-c role={owner}")
    with psycopg.connect(as_owner, autocommit=True) as holding, _locks.exclusive(holding, "backfill", att.id):
        with psycopg.connect(mine, autocommit=True) as oc, pytest.raises(BusyError, match=f"role {member}"):
            _locks._take(oc, "backfill", att.id)


def test_a_member_that_may_not_set_its_role_to_the_owner_is_a_squatter(conn, dsn, role, capsys, real_vectors):
    """N3: a membership granted WITH INHERIT FALSE, SET FALSE lets its member neither use the owner's rights nor become
    it, so a key it holds stalls no backfill."""
    att, mine, _theirs = _owned_attachment(conn, dsn, role, capsys, real_vectors)
    owner, member = psycopg.conninfo.conninfo_to_dict(mine)["user"], role("member")
    conn.execute(psycopg.sql.SQL("GRANT {} TO {} WITH INHERIT FALSE, SET FALSE").format(psycopg.sql.Identifier(owner),
                                                                                       psycopg.sql.Identifier(member)))
    with psycopg.connect(mine, autocommit=True) as oc, psycopg.connect(as_user(dsn, member), autocommit=True) as squatter:
        _turn, k = _locks.key(oc, "backfill", att.id)
        assert squatter.execute("SELECT pg_try_advisory_lock(%s)", (k,)).fetchone() == (True,)
        _turn, held = _locks._take(oc, "backfill", att.id)
        assert held != k


def test_a_revoked_worker_that_read_the_salt_cannot_compute_the_keys_to_come(conn, dsn, role, capsys, real_vectors):
    """The final review: a role that once could work on the table read the salt and turns; with turns counted up by
    one it held the keys of the next 60 and refused the owner's backfills after its UPDATE was revoked. A new turn is
    random."""
    att, mine, theirs = _owned_attachment(conn, dsn, role, capsys, real_vectors)
    (salt, turns), = conn.execute("SELECT salt, turns FROM compressae.lock_salts WHERE attachment_id = %s", (att.id,)).fetchall()
    turn = int(turns.get("backfill", 0))
    with psycopg.connect(theirs, autocommit=True) as squatter:  # no right on the table: what it read before it lost it
        squatter.execute("SELECT pg_advisory_lock(hashtextextended('compressae.backfill:' || %s::bigint || ':' || %s::bigint || ':' || t, 0)) "
                         "FROM generate_series(%s::bigint, %s::bigint + 60) AS t", (att.id, salt, turn, turn))
        for _ in range(3):
            assert _backfill(mine) == 0, capsys.readouterr().err

"""The package as users install it: what the wheel carries, and what an import costs."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel ``pip wheel`` builds from this checkout."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True)
    (built,) = out.glob("compressae_pg-*.whl")
    return built


def test_the_wheel_carries_every_migration_and_sql_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"compressae_pg/sql/{p.relative_to(ROOT / 'sql').as_posix()}" for p in (ROOT / "sql").rglob("*.sql")}
    expected |= {f"compressae_pg/migrations/{p.relative_to(ROOT / 'migrations').as_posix()}"
                 for p in (ROOT / "migrations").rglob("*") if p.suffix in (".py", ".mako") and "__pycache__" not in p.parts}
    assert len(expected) > 40
    assert expected <= names, sorted(expected - names)[:5]


def test_the_wheel_carries_every_module_of_every_subpackage(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {p.relative_to(ROOT).as_posix() for p in (ROOT / "compressae_pg").rglob("*.py") if "__pycache__" not in p.parts}
    assert {"compressae_pg/fill/coordinator.py", "compressae_pg/search/plans.py"} <= expected
    assert expected <= names, sorted(expected - names)[:5]


def test_the_installed_wheel_reads_its_sql_and_revisions_from_itself_with_no_package_dir_remap(wheel, tmp_path):
    # sql/ and migrations/ are folders of the package; the top-level names are links to them, for readers of the tree
    assert (ROOT / "sql").resolve() == ROOT / "compressae_pg" / "sql"
    assert (ROOT / "migrations").resolve() == ROOT / "compressae_pg" / "migrations"
    assert "package-dir" not in (ROOT / "pyproject.toml").read_text()
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    code = ("import compressae_pg, compressae_pg._migrate as m, compressae_pg._sql as s; from pathlib import Path; "
            "print(compressae_pg.__file__); print(len(list(Path(m.versions_location()).glob('0*.py')))); "
            "print(s.text('queries/attach.sql').count('compressae.attach'))")
    out = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); {code}"],
                         check=True, capture_output=True, text=True, cwd=tmp_path).stdout.split()
    assert out[0].startswith(str(site)), out
    assert int(out[1]) == len(list((ROOT / "compressae_pg" / "migrations" / "versions").glob("0*.py"))) > 20
    assert int(out[2]) >= 1


def test_application_migrations_do_not_import_torch():
    code = "import sys, compressae_pg.alembic, compressae_pg.cli.revision, compressae_pg.sqlalchemy; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "False"


def test_public_names_load_on_first_use_and_are_listed():
    code = ("import sys, compressae_pg as c; before = 'compressae_pg.training.trainer' in sys.modules; "
            "print(before, c.train.__module__, c.build_index.__name__, c.TrainConfig.__module__, "
            "all(n in dir(c) for n in c.__all__), c.attach.__name__, c.list_models.__name__)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.split() == ["False", "compressae_pg.training.trainer", "build_index", "compressae_pg.training.loop", "True", "attach",
                                  "list_models"]


def test_submodules_are_plain_modules_and_reload():
    # No module is named like a public function, so importing one leaves the function alone, binds the
    # module where asked, and importlib.reload works (the old package swapped its module class for this).
    code = ("import importlib, types, compressae_pg as c, compressae_pg.fill.coordinator as m, compressae_pg.fill.state; "
            "importlib.reload(m); importlib.reload(c); "
            "print(isinstance(m, types.ModuleType), *(f.__name__ for f in (c.train, c.backfill, c.status, c.recompress)), "
            "type(c).__name__)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.split() == ["True", "train", "backfill", "status", "recompress", "module"]


def test_every_public_function_takes_the_database_the_same_way():
    import inspect

    import compressae_pg as c

    for name in ("train", "backfill", "recompress", "build_index", "verify", "evaluate_column", "status", "attach", "detach",
                 "list_models", "drop_model", "export_model", "import_model", "sync"):
        fn = getattr(c, name)
        params = inspect.signature(fn).parameters
        wrapped = getattr(fn, "__wrapped__", None)
        assert {"conn", "dsn"} <= set(params) or (wrapped is not None and next(iter(inspect.signature(wrapped).parameters)) == "conn"), name


def test_every_exception_is_named_error_and_exported():
    import inspect

    import compressae_pg
    from compressae_pg import errors

    classes = [name for name, obj in vars(errors).items()
               if inspect.isclass(obj) and issubclass(obj, Exception) and obj.__module__ == errors.__name__]
    assert [n for n in classes if not n.endswith("Error")] == []
    assert [n for n in classes if n not in compressae_pg.__all__] == []


def test_every_public_name_is_the_name_of_what_it_gives():
    """One name per operation: each name of ``__all__`` (listed once) loads, and what it gives carries that name."""
    import compressae_pg

    assert len(set(compressae_pg.__all__)) == len(compressae_pg.__all__) > 50
    assert [n for n in compressae_pg.__all__ if getattr(compressae_pg, n).__name__ != n] == []

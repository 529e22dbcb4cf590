"""The package as users install it: what the wheel carries, and what an import costs."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_carries_every_migration_and_sql_file(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)
    (wheel,) = tmp_path.glob("compressae_pg-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"compressae_pg/sql/{p.relative_to(ROOT / 'sql').as_posix()}" for p in (ROOT / "sql").rglob("*.sql")}
    expected |= {f"compressae_pg/migrations/{p.relative_to(ROOT / 'migrations').as_posix()}"
                 for p in (ROOT / "migrations").rglob("*") if p.suffix in (".py", ".mako") and "__pycache__" not in p.parts}
    assert len(expected) > 40
    assert expected <= names, sorted(expected - names)[:5]


def test_application_migrations_do_not_import_torch():
    code = "import sys, compressae_pg.alembic, compressae_pg.revision; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "False"


def test_public_names_load_on_first_use():
    code = "import compressae_pg as c; print(c.train.__module__, c.build_index.__name__, c.TrainConfig.__module__)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.split() == ["compressae_pg.train", "build", "compressae_pg.fit"]


def test_importing_a_submodule_does_not_replace_the_function_of_its_name():
    code = ("import compressae_pg.demo, compressae_pg.status, compressae_pg.recompress, compressae_pg as c; "
            "from compressae_pg import train; print(*(callable(f) and f.__name__ for f in (train, c.backfill, c.status, c.recompress)))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.split() == ["train", "backfill", "status", "recompress"]

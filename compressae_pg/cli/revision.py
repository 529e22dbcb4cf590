"""Write an application's Alembic revision that adds a compressed column (``attach --alembic``).

The file is made by the application's own Alembic machinery (its template, file naming, revision
ids and post-write hooks): it follows the application's head and, when the application's
``version_locations`` include this package's history, depends on the compressae head, so
``alembic upgrade heads`` creates the ``compressae`` schema first. Its downgrade drops exactly what
its upgrade adds.
"""

from __future__ import annotations

from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path

from alembic import util
from alembic.config import Config
from alembic.script import ScriptDirectory

from .._migrate import BRANCH
from ..alembic import AddCompressedColumnOp, render_add, render_drop
from ..errors import CompressaeError

IMPORT = "import compressae_pg.alembic  # noqa: F401  (registers op.add_compressed_column)"


@dataclass(frozen=True)
class Revision:
    """A written revision file."""

    path: Path
    revision: str
    down_revision: str
    depends_on: str | None

    def as_dict(self) -> dict:
        return {"path": str(self.path), "revision": self.revision, "down_revision": self.down_revision,
                "depends_on": self.depends_on}


def load_config(alembic: str | Path) -> Config:
    """The application's Alembic config from its ``alembic.ini`` (or the directory that holds one).

    A relative ``script_location`` is taken relative to the ini file, not to the current directory.
    """
    path = Path(alembic)
    ini = path / "alembic.ini" if path.is_dir() else path
    if not ini.is_file():
        raise CompressaeError(f"no alembic.ini at {ini}: pass the application's alembic.ini or the directory that holds it")
    cfg = Config(str(ini), cmd_opts=Namespace(quiet=True))  # quiet: no 'Generating ...' on stdout
    location = cfg.get_main_option("script_location")
    if not location:
        raise CompressaeError(f"{ini} has no script_location")
    if ":" not in location and not Path(location).is_absolute():
        cfg.set_main_option("script_location", str((ini.parent / location).resolve()).replace("%", "%%"))
    return cfg


def _heads(script: ScriptDirectory) -> tuple[str, str | None]:
    """(the application's single head, the compressae head or None when its history is not included)."""
    try:
        ours = script.get_revision(f"{BRANCH}@head").revision
    except util.CommandError:
        ours = None
    app = [h for h in script.get_heads() if h != ours]
    if not app:
        raise CompressaeError("the application has no Alembic revision yet: the revision that creates the table comes first")
    if len(app) > 1:
        raise CompressaeError(f"the application has several heads ({', '.join(sorted(app))}): merge them first (alembic merge)")
    return app[0], ours


def write(alembic: str | Path, op: AddCompressedColumnOp, *, message: str | None = None) -> Revision:
    """Write the revision adding ``op``'s code column into the application's versions directory."""
    script = ScriptDirectory.from_config(load_config(alembic))
    head, compressae_head = _heads(script)
    script_ = script.generate_revision(
        util.rev_id(),
        message or f"compress {op.table_name}.{op.column_name} with {op.model}",
        head=head,
        depends_on=compressae_head,
        upgrades=render_add(None, op),
        downgrades=render_drop(None, op.reverse()),
        imports=IMPORT,
    )
    if script_ is None:
        raise CompressaeError("Alembic wrote no revision")
    return Revision(Path(script_.path), script_.revision, head, compressae_head)

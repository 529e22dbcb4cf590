"""The compressae SQL functions, as frozen in sql/revisions/0002_functions/.

Revision ID: 0002_functions
Revises: 0001_registry
Create Date: 2026-11-23
"""

from compressae_pg._migrate import run_sql_file

revision = "0002_functions"
down_revision = "0001_registry"
branch_labels = None
depends_on = None

FILES = [
    "revisions/0002_functions/resolve_model.sql",
    "revisions/0002_functions/sparse_entries.sql",
    "revisions/0002_functions/check_input.sql",
    "revisions/0002_functions/decode_atoms.sql",
    "revisions/0002_functions/least_squares.sql",
    "revisions/0002_functions/encode.sql",
    "revisions/0002_functions/decode.sql",
    "revisions/0002_functions/project.sql",
    "revisions/0002_functions/similarity.sql",
    "revisions/0002_functions/sync_trigger.sql",
    "revisions/0002_functions/attach.sql",
    "revisions/0002_functions/index_ddl.sql",
    "revisions/0002_functions/swap.sql",
    "revisions/0002_functions/search.sql",
]


def upgrade() -> None:
    for path in FILES:
        run_sql_file(path)


def downgrade() -> None:
    run_sql_file("revisions/0002_functions/downgrade.sql")

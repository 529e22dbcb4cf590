"""The compressae SQL functions, from the readable files in sql/functions/.

Revision ID: 0002_functions
Revises: 0001_registry
Create Date: 2026-11-23
"""

from compressae_pg.schema import run_sql_file

revision = "0002_functions"
down_revision = "0001_registry"
branch_labels = None
depends_on = None

FILES = [
    "functions/resolve_model.sql",
    "functions/sparse_entries.sql",
    "functions/check_input.sql",
    "functions/decode_atoms.sql",
    "functions/least_squares.sql",
    "functions/encode.sql",
    "functions/decode.sql",
    "functions/project.sql",
    "functions/similarity.sql",
    "functions/sync_trigger.sql",
    "functions/attach.sql",
    "functions/index_ddl.sql",
    "functions/swap.sql",
    "functions/search.sql",
]


def upgrade() -> None:
    for path in FILES:
        run_sql_file(path)


def downgrade() -> None:
    run_sql_file("schema/0002_functions_down.sql")

"""Review fixes and the candidate graph over a sketch: see sql/revisions/0004_index_path/.

Revision ID: 0004_index_path
Revises: 0003_hardening
Create Date: 2026-12-01
"""

from compressae_pg._migrate import run_sql_file

revision = "0004_index_path"
down_revision = "0003_hardening"
branch_labels = None
depends_on = None

DIR = "revisions/0004_index_path/"
FILES = [
    "schema.sql",
    "attach.sql",
    "index_ddl.sql",
    "sync_trigger.sql",
    "swap.sql",
    "search.sql",
    "least_squares.sql",
]
# What downgrade() restores after downgrade.sql: the definitions 0004 replaced, as 0003 left them.
PREVIOUS = [
    "revisions/0003_hardening/attach.sql",
    "revisions/0002_functions/index_ddl.sql",
    "revisions/0002_functions/sync_trigger.sql",
    "revisions/0002_functions/swap.sql",
    "revisions/0002_functions/search.sql",
    "revisions/0002_functions/least_squares.sql",
]


def upgrade() -> None:
    for path in FILES:
        run_sql_file(DIR + path)


def downgrade() -> None:
    run_sql_file(DIR + "downgrade.sql")
    for path in PREVIOUS:
        run_sql_file(path)

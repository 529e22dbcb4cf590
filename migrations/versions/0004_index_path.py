"""Review fixes and the candidate graph over a sketch: see sql/revisions/0004_index_path/.

Revision ID: 0004_index_path
Revises: 0003_hardening
Create Date: 2026-12-01
"""

from compressae_pg.schema import run_sql_file

revision = "0004_index_path"
down_revision = "0003_hardening"
branch_labels = None
depends_on = None

DIR = "revisions/0004_index_path/"
FILES = [
    # each file of DIR that this revision applies, in order
    "least_squares.sql",
]


def upgrade() -> None:
    for path in FILES:
        run_sql_file(DIR + path)


def downgrade() -> None:
    run_sql_file(DIR + "downgrade.sql")
    run_sql_file("revisions/0002_functions/least_squares.sql")  # the definition 0003 left (0003 did not change it)

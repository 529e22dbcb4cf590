"""No table-level UPDATE or DELETE for granted roles, so none can LOCK the package's tables: deletes are marks a trigger carries out. See sql/revisions/0022_no_table_locks/.

Revision ID: 0022_no_table_locks
Revises: 0021_default_candidates
Create Date: 2026-12-05
"""

from compressae_pg._migrate import run_sql_file

revision = "0022_no_table_locks"
down_revision = "0021_default_candidates"
branch_labels = None
depends_on = None

DIR = "revisions/0022_no_table_locks/"


def upgrade() -> None:
    run_sql_file(DIR + "upgrade.sql")


def downgrade() -> None:
    run_sql_file(DIR + "downgrade.sql")

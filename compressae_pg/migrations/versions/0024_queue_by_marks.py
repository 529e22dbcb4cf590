"""A sync queue whose workers find changed rows by their NULL code, without statement triggers. See sql/revisions/0024_queue_by_marks/

Revision ID: 0024_queue_by_marks
Revises: 0023_unguessable_sync_functions
Create Date: 2026-12-07
"""

from compressae_pg._migrate import run_sql_file

revision = "0024_queue_by_marks"
down_revision = "0023_unguessable_sync_functions"
branch_labels = None
depends_on = None

DIR = "revisions/0024_queue_by_marks/"


def upgrade() -> None:
    run_sql_file(DIR + "upgrade.sql")


def downgrade() -> None:
    run_sql_file(DIR + "downgrade.sql")

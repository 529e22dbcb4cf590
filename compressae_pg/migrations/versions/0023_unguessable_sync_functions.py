"""Sync functions named so that no other role can make one of the name first. See sql/revisions/0023_unguessable_sync_functions/.

Revision ID: 0023_unguessable_sync_functions
Revises: 0022_no_table_locks
Create Date: 2026-12-07
"""

from compressae_pg._migrate import run_sql_file

revision = "0023_unguessable_sync_functions"
down_revision = "0022_no_table_locks"
branch_labels = None
depends_on = None

DIR = "revisions/0023_unguessable_sync_functions/"


def upgrade() -> None:
    run_sql_file(DIR + "upgrade.sql")


def downgrade() -> None:
    run_sql_file(DIR + "downgrade.sql")

"""Lock keys no other role can compute (a salt under row security); dropped roles keep their model names. See sql/revisions/0025_secret_lock_keys/

Revision ID: 0025_secret_lock_keys
Revises: 0024_queue_by_marks
Create Date: 2026-12-08
"""

from compressae_pg._migrate import run_sql_file

revision = "0025_secret_lock_keys"
down_revision = "0024_queue_by_marks"
branch_labels = None
depends_on = None

DIR = "revisions/0025_secret_lock_keys/"


def upgrade() -> None:
    run_sql_file(DIR + "upgrade.sql")


def downgrade() -> None:
    run_sql_file(DIR + "downgrade.sql")

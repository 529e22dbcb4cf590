"""compressae.search hands the rerank 200 candidates by default, as the Python API does. See sql/revisions/0021_default_candidates/.

Revision ID: 0021_default_candidates
Revises: 0020_restorable_queue
Create Date: 2026-12-05
"""

from compressae_pg._migrate import run_sql_file

revision = "0021_default_candidates"
down_revision = "0020_restorable_queue"
branch_labels = None
depends_on = None

DIR = "revisions/0021_default_candidates/"


def upgrade() -> None:
    run_sql_file(DIR + "upgrade.sql")


def downgrade() -> None:
    run_sql_file(DIR + "downgrade.sql")

"""Trust: functions that pin their search_path, models that belong to a role, row-level security on
jobs, queues and failures, and a queue only the owner's trigger appends to. See sql/revisions/0009_trust/.

Revision ID: 0009_trust
Revises: 0008_pursuit_stages
Create Date: 2026-12-03
"""

from compressae_pg._migrate import run_sql_file

revision = "0009_trust"
down_revision = "0008_pursuit_stages"
branch_labels = None
depends_on = None

DIR = "revisions/0009_trust/"


def upgrade() -> None:
    run_sql_file(DIR + "functions.sql")
    run_sql_file(DIR + "ownership.sql")


def downgrade() -> None:
    run_sql_file(DIR + "downgrade_functions.sql")
    run_sql_file(DIR + "downgrade.sql")

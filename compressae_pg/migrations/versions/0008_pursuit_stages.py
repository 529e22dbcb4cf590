"""Pursuit in stages: models.stages and the encode that loops over them. See sql/revisions/0008_pursuit_stages/.

Revision ID: 0008_pursuit_stages
Revises: 0007_queue_capture
Create Date: 2026-12-01
"""

from compressae_pg._migrate import run_sql_file

revision = "0008_pursuit_stages"
down_revision = "0007_queue_capture"
branch_labels = None
depends_on = None

DIR = "revisions/0008_pursuit_stages/"


def upgrade() -> None:
    run_sql_file(DIR + "upgrade.sql")


def downgrade() -> None:
    run_sql_file(DIR + "downgrade.sql")
    run_sql_file("revisions/0002_functions/encode.sql")

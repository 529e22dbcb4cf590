"""Attachments by oid: a renamed table keeps its attachment, a new table of the old name has none. See sql/revisions/0017_attachments_by_oid/.

Revision ID: 0017_attachments_by_oid
Revises: 0016_sketch
Create Date: 2026-12-04
"""

from compressae_pg._migrate import run_sql_file

revision = "0017_attachments_by_oid"
down_revision = "0016_sketch"
branch_labels = None
depends_on = None

DIR = "revisions/0017_attachments_by_oid/"


def upgrade() -> None:
    run_sql_file(DIR + "upgrade.sql")


def downgrade() -> None:
    run_sql_file(DIR + "downgrade.sql")

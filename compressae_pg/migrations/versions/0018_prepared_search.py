"""compressae.search plans its statement once per session (a prepared statement named by its text's hash). See sql/revisions/0018_prepared_search/.

Revision ID: 0018_prepared_search
Revises: 0017_attachments_by_oid
Create Date: 2026-12-04
"""

from compressae_pg._migrate import run_sql_file

revision = "0018_prepared_search"
down_revision = "0017_attachments_by_oid"
branch_labels = None
depends_on = None

DIR = "revisions/0018_prepared_search/"


def upgrade() -> None:
    run_sql_file(DIR + "upgrade.sql")


def downgrade() -> None:
    run_sql_file(DIR + "downgrade.sql")

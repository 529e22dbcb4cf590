"""Filter equality from the type's btree class, ids no INSERT can choose, and no keys of rows row security hides. See sql/revisions/0018_filter_ids_keys/.

Revision ID: 0018_filter_ids_keys
Revises: 0017_attachments_by_oid
Create Date: 2026-12-04
"""

from compressae_pg._migrate import run_sql_file

revision = "0018_filter_ids_keys"
down_revision = "0017_attachments_by_oid"
branch_labels = None
depends_on = None

DIR = "revisions/0018_filter_ids_keys/"


def upgrade() -> None:
    run_sql_file(DIR + "upgrade.sql")


def downgrade() -> None:
    run_sql_file(DIR + "downgrade.sql")

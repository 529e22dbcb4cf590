"""Filter equality from the type's btree class, ids no INSERT can choose, and no keys of rows row security hides. See sql/revisions/0019_filter_ids_keys/.

Revision ID: 0019_filter_ids_keys
Revises: 0018_prepared_search
Create Date: 2026-12-04
"""

from compressae_pg._migrate import run_sql_file

revision = "0019_filter_ids_keys"
down_revision = "0018_prepared_search"
branch_labels = None
depends_on = None

DIR = "revisions/0019_filter_ids_keys/"


def upgrade() -> None:
    run_sql_file(DIR + "upgrade.sql")


def downgrade() -> None:
    run_sql_file(DIR + "downgrade.sql")

"""The application's items table.

Revision ID: a1_items
Revises:
"""

from alembic import op

revision = "a1_items"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.execute("CREATE TABLE items (id bigint PRIMARY KEY, title text NOT NULL DEFAULT '', embedding vector(384))")


def downgrade() -> None:
    op.execute("DROP TABLE items")

"""Index names that fit an identifier (63 bytes) and never collide: compressae.attach again.

Revision ID: 0003_hardening
Revises: 0002_functions
Create Date: 2026-11-30
"""

from compressae_pg._migrate import run_sql_file

revision = "0003_hardening"
down_revision = "0002_functions"
branch_labels = None
depends_on = None

FILES = ["revisions/0003_hardening/attach.sql"]


def upgrade() -> None:
    for path in FILES:
        run_sql_file(path)


def downgrade() -> None:
    """Nothing to undo: the new compressae.attach needs nothing that 0002 lacks, and is kept."""

"""sync cursors: an opaque position a CRM hands out (a delta link), kept beside the watermarks

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 14:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sync_watermarks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cursor', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sync_watermarks', schema=None) as batch_op:
        batch_op.drop_column('cursor')

"""quiet hours: an outbox message can be held until a release time, and knows the alert scope it is about

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 08:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.add_column(sa.Column('scope_key', sa.String(length=128), nullable=True))
        batch.add_column(sa.Column('release_at', sa.DateTime(), nullable=True))
        batch.create_index('ix_outbox_status_release', ['status', 'release_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.drop_index('ix_outbox_status_release')
        batch.drop_column('release_at')
        batch.drop_column('scope_key')

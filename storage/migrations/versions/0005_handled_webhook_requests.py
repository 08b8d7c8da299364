"""handled webhook requests: a short memory of answered Slack and Telegram deliveries, so a replay is answered once

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 08:30:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'handled_requests',
        sa.Column('request_key', sa.String(length=64), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('request_key', name=op.f('pk_handled_requests')),
    )
    with op.batch_alter_table('handled_requests', schema=None) as batch_op:
        batch_op.create_index('ix_handled_requests_expires_at', ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('handled_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_handled_requests_expires_at')
    op.drop_table('handled_requests')

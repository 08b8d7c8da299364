"""sync claims: one instance runs a CRM's scheduled sync, the others skip it

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 15:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sync_claims',
        sa.Column('crm', sa.String(length=32), nullable=False),
        sa.Column('holder', sa.String(length=128), nullable=False),
        sa.Column('claimed_until', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('crm', name=op.f('pk_sync_claims')),
    )


def downgrade() -> None:
    op.drop_table('sync_claims')

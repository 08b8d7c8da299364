"""crm sync log: sync runs, per-object watermarks and rejected records

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 14:20:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sync_runs',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('crm', sa.String(length=32), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=False),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('full', sa.Boolean(), nullable=False),
        sa.Column('read', sa.Integer(), nullable=False),
        sa.Column('written', sa.Integer(), nullable=False),
        sa.Column('rejected', sa.Integer(), nullable=False),
        sa.Column('deleted', sa.Integer(), nullable=False),
        sa.Column('objects', sa.Text(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_runs')),
    )
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.create_index('ix_sync_runs_crm_started', ['crm', 'started_at'], unique=False)
    op.create_table(
        'sync_watermarks',
        sa.Column('crm', sa.String(length=32), nullable=False),
        sa.Column('object', sa.String(length=64), nullable=False),
        sa.Column('watermark', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('crm', 'object', name=op.f('pk_sync_watermarks')),
    )
    op.create_table(
        'sync_rejects',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('run_id', sa.Integer(), nullable=False),
        sa.Column('object', sa.String(length=64), nullable=False),
        sa.Column('record_id', sa.String(length=64), nullable=False),
        sa.Column('field', sa.String(length=64), nullable=False),
        sa.Column('value', sa.String(length=200), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_rejects')),
    )
    with op.batch_alter_table('sync_rejects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sync_rejects_run_id'), ['run_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sync_rejects', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sync_rejects_run_id'))
    op.drop_table('sync_rejects')
    op.drop_table('sync_watermarks')
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_sync_runs_crm_started')
    op.drop_table('sync_runs')

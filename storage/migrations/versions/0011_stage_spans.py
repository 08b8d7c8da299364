"""stage spans: each stage a lead or a deal has left, kept current by triggers (storage/journeys.py,
storage/deal_spans.py)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 13:00:00.000000
"""

from alembic import op
import sqlalchemy as sa

from storage.deal_spans import DEAL_SPAN_MARKING


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('lead_stage_spans',
    sa.Column('owner_id', sa.String(length=64), nullable=False),
    sa.Column('left_at', sa.DateTime(), nullable=False),
    sa.Column('lead_id', sa.String(length=64), nullable=False),
    sa.Column('stage', sa.String(length=64), nullable=False),
    sa.Column('entered_at', sa.DateTime(), nullable=False),
    sa.Column('days', sa.Float(), nullable=False),
    sa.Column('left_by_touch', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('owner_id', 'left_at', 'lead_id', 'stage', name=op.f('pk_lead_stage_spans')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('lead_stage_spans', schema=None) as batch_op:
        batch_op.create_index('ix_lead_stage_spans_lead', ['lead_id'], unique=False)
        batch_op.create_index(
            'ix_lead_stage_spans_left', ['left_at', 'owner_id', 'stage', 'days', 'left_by_touch', 'lead_id'], unique=False
        )
    op.create_table('deal_stage_spans',
    sa.Column('owner_id', sa.String(length=64), nullable=False),
    sa.Column('left_at', sa.DateTime(), nullable=False),
    sa.Column('deal_id', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=64), nullable=False),
    sa.Column('entered_at', sa.DateTime(), nullable=False),
    sa.Column('days', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('owner_id', 'left_at', 'deal_id', 'position', name=op.f('pk_deal_stage_spans')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('deal_stage_spans', schema=None) as batch_op:
        batch_op.create_index('ix_deal_stage_spans_deal', ['deal_id'], unique=False)
        batch_op.create_index(
            'ix_deal_stage_spans_left', ['left_at', 'owner_id', 'stage', 'days', 'position'], unique=False
        )
    op.create_table('deal_span_dirty',
    sa.Column('deal_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('deal_id', name=op.f('pk_deal_span_dirty')),
    sqlite_with_rowid=False
    )
    for statement in DEAL_SPAN_MARKING.trigger_ddl(op.get_bind().dialect.name):
        op.execute(statement)
    # Deals already in the store have no spans yet: the first refresh works them out. The leads' spans are kept
    # with their journeys, for the stages the journeys were worked out for: forgetting those stages makes the next
    # refresh rebuild both tables (readers take every lead live until then).
    op.execute("INSERT INTO deal_span_dirty (deal_id) SELECT deal_id FROM deals")
    op.execute("DELETE FROM lead_journey_state")


def downgrade() -> None:
    for statement in DEAL_SPAN_MARKING.drop_trigger_ddl(op.get_bind().dialect.name):
        op.execute(statement)
    with op.batch_alter_table('deal_stage_spans', schema=None) as batch_op:
        batch_op.drop_index('ix_deal_stage_spans_left')
        batch_op.drop_index('ix_deal_stage_spans_deal')
    with op.batch_alter_table('lead_stage_spans', schema=None) as batch_op:
        batch_op.drop_index('ix_lead_stage_spans_left')
        batch_op.drop_index('ix_lead_stage_spans_lead')
    op.drop_table('deal_span_dirty')
    op.drop_table('deal_stage_spans')
    op.drop_table('lead_stage_spans')
    # The leads' journeys stay: the triggers that keep them are 0002's.

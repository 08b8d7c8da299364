"""covering activity and event indexes: a period's done calls and meetings, and its touched leads, from the index

The owner-first and time-first activity indexes carry type and status, the stage events' index the lead, so an
organisation's 90 days of calls (`/plan`) or a month's touched leads (`/sql`) no longer look up every row.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 13:50:00.000000
"""

from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.create_index(
            'ix_activities_owner_completed_kind', ['owner_id', 'completed_at', 'type', 'status'], unique=False
        )
        batch_op.create_index(
            'ix_activities_completed_kind', ['completed_at', 'type', 'status', 'owner_id'], unique=False
        )
        batch_op.drop_index('ix_activities_owner_completed')
        batch_op.drop_index('ix_activities_completed')
    with op.batch_alter_table('lead_stage_events', schema=None) as batch_op:
        batch_op.create_index(
            'ix_lead_stage_events_stage_entered_lead', ['stage', 'entered_at', 'lead_id'], unique=False
        )
        batch_op.drop_index('ix_lead_stage_events_stage_entered')


def downgrade() -> None:
    with op.batch_alter_table('lead_stage_events', schema=None) as batch_op:
        batch_op.create_index('ix_lead_stage_events_stage_entered', ['stage', 'entered_at'], unique=False)
        batch_op.drop_index('ix_lead_stage_events_stage_entered_lead')
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.create_index('ix_activities_completed', ['completed_at'], unique=False)
        batch_op.create_index('ix_activities_owner_completed', ['owner_id', 'completed_at'], unique=False)
        batch_op.drop_index('ix_activities_completed_kind')
        batch_op.drop_index('ix_activities_owner_completed_kind')

"""account months: each account's calendar months with an order, kept current by triggers (storage/account_months.py)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 13:30:00.000000
"""

from alembic import op
import sqlalchemy as sa

from storage.account_months import ACCOUNT_MONTH_MARKS


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('account_month_dirty',
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_account_month_dirty')),
    sqlite_with_rowid=False
    )
    op.create_table('account_month_state',
    sa.Column('tz', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('tz', name=op.f('pk_account_month_state'))
    )
    op.create_table('account_months',
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('orders', sa.Integer(), nullable=False),
    sa.Column('first_at', sa.DateTime(), nullable=False),
    sa.Column('last_at', sa.DateTime(), nullable=False),
    sa.Column('first_order_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('month', 'account_id', name=op.f('pk_account_months')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('account_months', schema=None) as batch_op:
        batch_op.create_index(
            'ix_account_months_by_account',
            ['account_id', 'month', 'first_at', 'last_at', 'first_order_at', 'orders'],
            unique=False,
        )
    for statement in ACCOUNT_MONTH_MARKS.trigger_ddl(op.get_bind().dialect.name):
        op.execute(statement)
    # No time zone recorded yet: readers work every account's months out live until the first refresh builds them.


def downgrade() -> None:
    for statement in ACCOUNT_MONTH_MARKS.drop_trigger_ddl(op.get_bind().dialect.name):
        op.execute(statement)
    with op.batch_alter_table('account_months', schema=None) as batch_op:
        batch_op.drop_index('ix_account_months_by_account')
    op.drop_table('account_months')
    op.drop_table('account_month_state')
    op.drop_table('account_month_dirty')

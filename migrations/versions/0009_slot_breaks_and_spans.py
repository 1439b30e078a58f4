"""breaks and long talks: a slot may be a break; a placement runs over a span of consecutive slots

Existing slots are not breaks, and every existing placement takes the one slot it is in.

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-10 10:02:11.402117

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('slots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_break', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('slots', schema=None) as batch_op:
        batch_op.alter_column('is_break', existing_type=sa.Boolean(), server_default=None)

    with op.batch_alter_table('placements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('span', sa.Integer(), nullable=False, server_default='1'))
    with op.batch_alter_table('placements', schema=None) as batch_op:
        batch_op.alter_column('span', existing_type=sa.Integer(), server_default=None)


def downgrade():
    with op.batch_alter_table('placements', schema=None) as batch_op:
        batch_op.drop_column('span')
    with op.batch_alter_table('slots', schema=None) as batch_op:
        batch_op.drop_column('is_break')

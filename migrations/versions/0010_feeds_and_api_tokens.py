"""calendar feeds may carry the details of talks that are not public

A personal feed holds titles, times and rooms unless its owner asks for the abstracts and speakers
of the talks that are not public.

Revision ID: 0010
Revises: 0006
Create Date: 2026-12-10 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('calendar_feeds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('include_details', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('calendar_feeds', schema=None) as batch_op:
        batch_op.alter_column('include_details', existing_type=sa.Boolean(), server_default=None)


def downgrade():
    with op.batch_alter_table('calendar_feeds', schema=None) as batch_op:
        batch_op.drop_column('include_details')

"""materials are prepared by the worker (processing, ready, refused), may end at a date; talks may take
only watermarked files

Uploads of PDFs and images are stored as sent and marked processing; the worker replaces them with
the prepared copy (ready) or keeps the reason they were refused. Materials uploaded before this were
checked in the request and stay ready. ``expires_at`` ends access for everyone but the speakers and
the organizers; ``proposals.only_stamped`` refuses files that cannot be watermarked.

Revision ID: 0014
Revises: 0010
Create Date: 2026-12-04 16:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('materials', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.Enum('processing', 'ready', 'refused', name='materialstate',
                                                       native_enum=False, length=20, create_constraint=False),
                                      server_default='ready', nullable=False))
        batch_op.add_column(sa.Column('refusal', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('removed', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('pages', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('prepare_attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(), nullable=True))
        batch_op.create_index('ix_materials_state', ['state'], unique=False)
    with op.batch_alter_table('proposals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('only_stamped', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('proposals', schema=None) as batch_op:
        batch_op.drop_column('only_stamped')
    with op.batch_alter_table('materials', schema=None) as batch_op:
        batch_op.drop_index('ix_materials_state')
        batch_op.drop_column('expires_at')
        batch_op.drop_column('prepare_attempts')
        batch_op.drop_column('pages')
        batch_op.drop_column('removed')
        batch_op.drop_column('refusal')
        batch_op.drop_column('state')

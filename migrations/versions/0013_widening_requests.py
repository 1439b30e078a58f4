"""requests to widen a talk, waiting for the consent of its confirmed speakers

A change that would let more people see a talk (a wider tier, a scheduled release, a named person
added, an exclusion lifted) waits as a request with one answer per speaker.

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-04 16:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('widening_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=24), nullable=False),
    sa.Column('proposal_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('tier change', 'access change', name='wideningkind', native_enum=False, length=20,
                              create_constraint=False), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('tier', sa.Enum('public', 'attendees', 'session', 'restricted', name='tier', native_enum=False,
                              length=20, create_constraint=False), nullable=True),
    sa.Column('release_tier', sa.Enum('public', 'attendees', 'session', 'restricted', name='tier',
                                      native_enum=False, length=20, create_constraint=False), nullable=True),
    sa.Column('release_at', sa.DateTime(), nullable=True),
    sa.Column('named', sa.Text(), nullable=False),
    sa.Column('excluded', sa.Text(), nullable=False),
    sa.Column('summary', sa.String(length=1000), nullable=False),
    sa.Column('status', sa.Enum('pending', 'applied', 'declined', 'withdrawn', 'superseded',
                                name='wideningstatus', native_enum=False, length=20, create_constraint=False),
              nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['proposal_id'], ['proposals.id'], name=op.f('fk_widening_requests_proposal_id_proposals'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'],
                            name=op.f('fk_widening_requests_requested_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_widening_requests')),
    sa.UniqueConstraint('public_id', name=op.f('uq_widening_requests_public_id'))
    )
    with op.batch_alter_table('widening_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_widening_requests_proposal_id'), ['proposal_id'], unique=False)
    op.create_table('widening_consents',
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('accepted', sa.Boolean(), nullable=False),
    sa.Column('answered_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['widening_requests.id'],
                            name=op.f('fk_widening_consents_request_id_widening_requests'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_widening_consents_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('request_id', 'user_id', name=op.f('pk_widening_consents'))
    )


def downgrade():
    op.drop_table('widening_consents')
    with op.batch_alter_table('widening_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_widening_requests_proposal_id'))
    op.drop_table('widening_requests')

"""organizers write to segments of their event and word the messages Conclave sends

An event's own texts (message_texts) replace the built-in ones for invitations, reminders,
acceptances, waitlist promotions and new agreement versions. A message written to a segment
(event_messages) is sent through the outbox, one message per recipient, each pointing back to it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 16:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('message_texts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_message_texts_event_id_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_message_texts_updated_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_texts')),
    sa.UniqueConstraint('event_id', 'kind', name=op.f('uq_message_texts_event_id_kind'))
    )
    with op.batch_alter_table('message_texts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_texts_event_id'), ['event_id'], unique=False)
    op.create_table('event_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=24), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('segment', sa.String(length=30), nullable=False),
    sa.Column('audience', sa.String(length=400), nullable=False),
    sa.Column('proposal_id', sa.Integer(), nullable=True),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('recipient_count', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_event_messages_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_event_messages_event_id_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['proposal_id'], ['proposals.id'], name=op.f('fk_event_messages_proposal_id_proposals'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_messages')),
    sa.UniqueConstraint('public_id', name=op.f('uq_event_messages_public_id'))
    )
    with op.batch_alter_table('event_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_event_messages_event_id'), ['event_id'], unique=False)
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('event_message_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('candidate_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_messages_event_message_id'), ['event_message_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_outbox_messages_event_message_id_event_messages'), 'event_messages',
                                    ['event_message_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_outbox_messages_candidate_id_candidates'), 'candidates',
                                    ['candidate_id'], ['id'], ondelete='SET NULL')


def downgrade():
    op.execute("DELETE FROM outbox_messages WHERE kind = 'event_message' AND status <> 'sent'")
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_outbox_messages_candidate_id_candidates'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_outbox_messages_event_message_id_event_messages'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_outbox_messages_event_message_id'))
        batch_op.drop_column('candidate_id')
        batch_op.drop_column('event_message_id')
    with op.batch_alter_table('event_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_event_messages_event_id'))
    op.drop_table('event_messages')
    with op.batch_alter_table('message_texts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_texts_event_id'))
    op.drop_table('message_texts')

"""typed states: an audit entry's target as a kind and a key; sign-up status, attendance source and
wave kind as enums

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 09:41:09.062770

The audit log's existing targets ("proposal Xy3…", "room Annex") are split into their kind and key, so
they read exactly as before; a target that names no kind ("40 people") keeps its whole text as the key.
Sign-up statuses, attendance sources and wave kinds already hold only the enums' values; the sign-up
status column is widened to the enums' common length.

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

AUDIT_TARGETS = ('event', 'candidate', 'user', 'proposal', 'material', 'room', 'slot', 'agreement', 'release')

audit_entries = sa.table(
    'audit_entries',
    sa.column('id', sa.Integer),
    sa.column('target', sa.String),
    sa.column('target_kind', sa.String),
    sa.column('target_key', sa.String),
)


def upgrade():
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('target_kind', sa.Enum(*AUDIT_TARGETS, name='audittarget', native_enum=False, length=20), nullable=True))
        batch_op.add_column(sa.Column('target_key', sa.String(length=300), nullable=False, server_default=''))

    connection = op.get_bind()
    for entry_id, target in connection.execute(sa.select(audit_entries.c.id, audit_entries.c.target)).all():
        kind, _, key = (target or '').partition(' ')
        values = {'target_kind': kind, 'target_key': key} if kind in AUDIT_TARGETS and key else {'target_key': target or ''}
        connection.execute(audit_entries.update().where(audit_entries.c.id == entry_id).values(**values))

    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.alter_column('target_key', server_default=None)
        batch_op.drop_column('target')

    with op.batch_alter_table('signups', schema=None) as batch_op:
        batch_op.alter_column('status',
               existing_type=sa.VARCHAR(length=12),
               type_=sa.Enum('confirmed', 'waitlisted', name='signupstatus', native_enum=False, length=20),
               existing_nullable=False)


def downgrade():
    with op.batch_alter_table('signups', schema=None) as batch_op:
        batch_op.alter_column('status',
               existing_type=sa.Enum('confirmed', 'waitlisted', name='signupstatus', native_enum=False, length=20),
               type_=sa.VARCHAR(length=12),
               existing_nullable=False)

    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('target', sa.VARCHAR(length=300), nullable=False, server_default=''))

    connection = op.get_bind()
    rows = connection.execute(sa.select(audit_entries.c.id, audit_entries.c.target_kind, audit_entries.c.target_key)).all()
    for entry_id, kind, key in rows:
        target = f'{kind} {key}' if kind else key
        connection.execute(audit_entries.update().where(audit_entries.c.id == entry_id).values(target=target[:300]))

    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.alter_column('target', server_default=None)
        batch_op.drop_column('target_key')
        batch_op.drop_column('target_kind')

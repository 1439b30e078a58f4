"""view-only materials and the pages their readers viewed

A material may be view-only: it opens in the in-browser reader, one stamped page at a time, and is
not downloaded by anyone but its speakers. Every page shown is a row of page_views, tied to the
logged access that served it, with how long it stayed in view.

Revision ID: 0015
Revises: 0010
Create Date: 2026-12-04 16:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('materials', schema=None) as batch_op:
        batch_op.add_column(sa.Column('view_only', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('reader_pages', sa.Integer(), nullable=True))
    with op.batch_alter_table('materials', schema=None) as batch_op:
        batch_op.alter_column('view_only', existing_type=sa.Boolean(), server_default=None)
    op.create_table('page_views',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('access_id', sa.Integer(), nullable=False),
    sa.Column('material_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('page', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('seconds', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['access_id'], ['material_accesses.id'], name=op.f('fk_page_views_access_id_material_accesses'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['material_id'], ['materials.id'], name=op.f('fk_page_views_material_id_materials'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_page_views_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_page_views')),
    sa.UniqueConstraint('access_id', name=op.f('uq_page_views_access_id'))
    )
    with op.batch_alter_table('page_views', schema=None) as batch_op:
        batch_op.create_index('ix_page_views_material_user_started', ['material_id', 'user_id', 'started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_page_views_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('page_views', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_page_views_user_id'))
        batch_op.drop_index('ix_page_views_material_user_started')
    op.drop_table('page_views')
    with op.batch_alter_table('materials', schema=None) as batch_op:
        batch_op.drop_column('reader_pages')
        batch_op.drop_column('view_only')

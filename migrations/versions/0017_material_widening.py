"""a file's end of access moved later, and taking any file type again, wait for the speakers' consent

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 20:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('widening_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('material_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_widening_requests_material_id'), ['material_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_widening_requests_material_id_materials'), 'materials',
                                    ['material_id'], ['id'], ondelete='CASCADE')


def downgrade():
    op.execute("DELETE FROM widening_requests WHERE kind IN ('end of access later', 'any file type')")
    with op.batch_alter_table('widening_requests', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_widening_requests_material_id_materials'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_widening_requests_material_id'))
        batch_op.drop_column('expires_at')
        batch_op.drop_column('material_id')

"""the forensic mark carries a download id's first 8 characters: an index to look them up by

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 23:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_material_accesses_download_prefix', 'material_accesses',
                    [sa.text('substr(download_id, 1, 8)')], unique=False)


def downgrade():
    op.drop_index('ix_material_accesses_download_prefix', table_name='material_accesses')

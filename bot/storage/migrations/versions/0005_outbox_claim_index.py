"""outbox claim index: (status, due_at, id), the claim's order, so a claim reads only the rows it takes

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 06:40:00.000000
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_status_due_id", ["status", "due_at", "id"], unique=False)
        batch_op.drop_index("ix_outbox_status_due")


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_status_due", ["status", "due_at"], unique=False)
        batch_op.drop_index("ix_outbox_status_due_id")

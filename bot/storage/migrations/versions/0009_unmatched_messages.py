"""unmatched messages: what customers wrote that started nothing, for `engagebot intents unmatched`

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-04 13:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import bot.storage.base

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unmatched_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("created_at", bot.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_unmatched_messages_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unmatched_messages")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("unmatched_messages", schema=None) as batch_op:
        batch_op.create_index("ix_unmatched_messages_created_at", ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_unmatched_messages_customer_id"), ["customer_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("unmatched_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_unmatched_messages_customer_id"))
        batch_op.drop_index("ix_unmatched_messages_created_at")
    op.drop_table("unmatched_messages")

"""retention playbook: cancellations (reasons, save attempts, win-back state) and cross-sell offers; indexes for
reading new events by name and ended cancellation flows

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 16:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import bot.storage.base

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

WHEN = bot.storage.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cancellations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column("fixable", sa.Boolean(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("cancelled_at", WHEN, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stopped_by", sa.String(length=64), nullable=True),
        sa.Column("stopped_at", WHEN, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_cancellations_customer_id_customers"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"],
                                name=op.f("fk_cancellations_ticket_id_tickets"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cancellations")),
        sa.UniqueConstraint("source", name=op.f("uq_cancellations_source")),
        sqlite_autoincrement=True,
    )  # fmt: skip
    op.create_index("ix_cancellations_customer_status", "cancellations", ["customer_id", "status"], unique=False)
    op.create_table(
        "crosssell_offers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=100), nullable=False),
        sa.Column("product", sa.String(length=200), nullable=False),
        sa.Column("queued_at", WHEN, nullable=False),
        sa.Column("sent_at", WHEN, nullable=True),
        sa.Column("stopped", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_crosssell_offers_customer_id_customers"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crosssell_offers")),
        sqlite_autoincrement=True,
    )  # fmt: skip
    op.create_index("ix_crosssell_offers_customer_product", "crosssell_offers", ["customer_id", "product"],
                    unique=False)  # fmt: skip
    op.create_index("ix_customer_events_name_received", "customer_events", ["name", "received_at"], unique=False)
    op.create_index("ix_conversation_runs_flow_ended", "conversation_runs", ["flow_id", "ended_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_conversation_runs_flow_ended", table_name="conversation_runs")
    op.drop_index("ix_customer_events_name_received", table_name="customer_events")
    op.drop_index("ix_crosssell_offers_customer_product", table_name="crosssell_offers")
    op.drop_table("crosssell_offers")
    op.drop_index("ix_cancellations_customer_status", table_name="cancellations")
    op.drop_table("cancellations")

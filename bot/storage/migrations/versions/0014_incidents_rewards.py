"""incidents (known problems, their notices, the affected customers), reward codes, and the ticket's incident

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 16:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import bot.storage.base

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

WHEN = bot.storage.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("what_happened", sa.Text(), nullable=False),
        sa.Column("what_we_do", sa.Text(), nullable=False),
        sa.Column("next_update_at", WHEN, nullable=True),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("opened_by", sa.String(length=200), nullable=False),
        sa.Column("opened_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("resolved_at", WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_incidents_status"), "incidents", ["status"], unique=False)
    op.create_table(
        "incident_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"],
                                name=op.f("fk_incident_notices_incident_id_incidents"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_notices")),
        sa.UniqueConstraint("incident_id", "seq", name=op.f("uq_incident_notices_incident_id_seq")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "incident_customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("found_at", WHEN, nullable=False),
        sa.Column("notified", sa.Integer(), nullable=False),
        sa.Column("last_notified_at", WHEN, nullable=True),
        sa.Column("skipped", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_incident_customers_customer_id_customers"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"],
                                name=op.f("fk_incident_customers_incident_id_incidents"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_customers")),
        sa.UniqueConstraint("incident_id", "customer_id", name=op.f("uq_incident_customers_incident_id_customer_id")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_incident_customers_customer", "incident_customers", ["customer_id"], unique=False)
    op.create_table(
        "reward_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pool", sa.String(length=60), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("given_by", sa.String(length=200), nullable=True),
        sa.Column("given_at", WHEN, nullable=True),
        sa.Column("redeemed_at", WHEN, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_reward_codes_customer_id_customers"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_codes")),
        sa.UniqueConstraint("pool", "code", name=op.f("uq_reward_codes_pool_code")),
        sa.UniqueConstraint("pool", "customer_id", name=op.f("uq_reward_codes_pool_customer_id")),
        sqlite_autoincrement=True,
    )
    unclaimed = sa.text("customer_id IS NULL")
    op.create_index("ix_reward_codes_unclaimed", "reward_codes", ["pool", "id"], unique=False,
                    postgresql_where=unclaimed, sqlite_where=unclaimed)  # fmt: skip
    # Added in place, with no foreign key (an incident is never deleted): on SQLite a key would need the table
    # rebuilt, which would drop its AUTOINCREMENT and the counter that keeps an erased ticket's id and reference
    # from being given again (0007).
    op.add_column("tickets", sa.Column("incident_id", sa.Integer(), nullable=True))
    op.add_column("tickets", sa.Column("incident_label", sa.String(length=250), nullable=True))


def downgrade() -> None:
    for column in ("incident_label", "incident_id"):
        op.execute(f"ALTER TABLE tickets DROP COLUMN {column}")  # in place on SQLite too (3.35+): no rebuild
    op.drop_index("ix_reward_codes_unclaimed", table_name="reward_codes")
    op.drop_table("reward_codes")
    op.drop_index("ix_incident_customers_customer", table_name="incident_customers")
    op.drop_table("incident_customers")
    op.drop_table("incident_notices")
    op.drop_index(op.f("ix_incidents_status"), table_name="incidents")
    op.drop_table("incidents")

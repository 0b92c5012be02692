"""campaign store: every saved version of every campaign, what config.yaml last held; retired flows

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 15:50:00.000000
"""

import sqlalchemy as sa
from alembic import op

import bot.storage.base

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

WHEN = bot.storage.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "campaign_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("retired", sa.Boolean(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("author", sa.String(length=60), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("saved_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_versions")),
        sa.UniqueConstraint("name", "number", name=op.f("uq_campaign_versions_name_number")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_campaign_versions_name"), "campaign_versions", ["name"], unique=False)
    op.create_table(
        "campaign_config_marks",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_campaign_config_marks")),
    )
    # A plain ADD COLUMN (no batch rebuild on SQLite, which would drop the table's AUTOINCREMENT).
    op.add_column("flow_publishes", sa.Column("retired", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("flow_publishes", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("retired")
    op.drop_table("campaign_config_marks")
    op.drop_index(op.f("ix_campaign_versions_name"), table_name="campaign_versions")
    op.drop_table("campaign_versions")

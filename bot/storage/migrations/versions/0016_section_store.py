"""settings store: every saved version of each playbook section, what config.yaml last held

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 18:40:00.000000
"""

import sqlalchemy as sa
from alembic import op

import bot.storage.base

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

WHEN = bot.storage.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "section_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("retired", sa.Boolean(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("author", sa.String(length=60), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("saved_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_section_versions")),
        sa.UniqueConstraint("name", "number", name=op.f("uq_section_versions_name_number")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_section_versions_name"), "section_versions", ["name"], unique=False)
    op.create_table(
        "section_config_marks",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_section_config_marks")),
    )


def downgrade() -> None:
    op.drop_table("section_config_marks")
    op.drop_index(op.f("ix_section_versions_name"), table_name="section_versions")
    op.drop_table("section_versions")

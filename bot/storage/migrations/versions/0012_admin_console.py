"""admin console: accounts, sessions, the audit log, and the flow store (published versions, file marks)

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-04 12:50:00.000000
"""

import sqlalchemy as sa
from alembic import op

import bot.storage.base

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None

WHEN = bot.storage.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "admin_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_accounts")),
        sa.UniqueConstraint("name", name=op.f("uq_admin_accounts_name")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "admin_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["admin_accounts.id"],
                                name=op.f("fk_admin_sessions_account_id_admin_accounts"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_admin_sessions_token_hash")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_admin_sessions_account_id"), "admin_sessions", ["account_id"], unique=False)
    op.create_table(
        "admin_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", WHEN, nullable=False),
        sa.Column("actor", sa.String(length=60), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_audit")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_admin_audit_at"), "admin_audit", ["at"], unique=False)
    op.create_table(
        "flow_publishes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flow_id", sa.String(length=100), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("author", sa.String(length=60), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("published_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["flow_publishes.id"],
                                name=op.f("fk_flow_publishes_parent_id_flow_publishes")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_publishes")),
        sa.UniqueConstraint("flow_id", "number", name=op.f("uq_flow_publishes_flow_id_number")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_flow_publishes_flow_id"), "flow_publishes", ["flow_id"], unique=False)
    op.create_table(
        "flow_file_marks",
        sa.Column("flow_id", sa.String(length=100), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("flow_id", name=op.f("pk_flow_file_marks")),
    )


def downgrade() -> None:
    op.drop_table("flow_file_marks")
    op.drop_index(op.f("ix_flow_publishes_flow_id"), table_name="flow_publishes")
    op.drop_table("flow_publishes")
    op.drop_index(op.f("ix_admin_audit_at"), table_name="admin_audit")
    op.drop_table("admin_audit")
    op.drop_index(op.f("ix_admin_sessions_account_id"), table_name="admin_sessions")
    op.drop_table("admin_sessions")
    op.drop_table("admin_accounts")

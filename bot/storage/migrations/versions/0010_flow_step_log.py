"""flow step log: one row each time a conversation run enters a flow step or takes its answer (the `flows` report);
survey answers indexed by kind and time (the nps and csat reports)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 13:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

from bot.storage.base import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "flow_step_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("flow_id", sa.String(length=100), nullable=False),
        sa.Column("flow_version", sa.String(length=64), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.String(length=100), nullable=True),
        sa.Column("step_kind", sa.String(length=16), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_step_log")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_flow_step_log_flow_step_run", "flow_step_log", ["flow_id", "step_index", "run_id"])
    op.create_index("ix_flow_step_log_run_id", "flow_step_log", ["run_id", "id"])
    op.create_index("ix_survey_responses_kind_created", "survey_responses", ["kind", "created_at"])
    # Read alone, in the order of the nps and csat reports' window: no sort of a million answers (bench_reports).
    op.create_index(
        "ix_survey_responses_kind_voice", "survey_responses",
        ["kind", "customer_id", "survey", "ticket_id", "created_at", "id"], postgresql_include=["score"],
    )


def downgrade() -> None:
    op.drop_index("ix_survey_responses_kind_voice", table_name="survey_responses")
    op.drop_index("ix_survey_responses_kind_created", table_name="survey_responses")
    op.drop_index("ix_flow_step_log_run_id", table_name="flow_step_log")
    op.drop_index("ix_flow_step_log_flow_step_run", table_name="flow_step_log")
    op.drop_table("flow_step_log")

"""PostgreSQL: engagebot_open_runs(customer, statuses), a customer's runs read as they are when it is called

A message's sender is locked and read with their open runs in one statement (bot/conversations/senders.py). A
statement that waited for the lock (another instance's turn, a check-in resumed, the customer's other chat) got the
customer row as the other transaction left it, but the runs as they were when the statement started: PostgreSQL
reads every table but the locked one from the statement's snapshot. The turn answered a question already closed and
wrote over what the other work did. A VOLATILE function runs its query with a snapshot of its own, taken when it is
called: from the statement, after each customer's lock, it reads the runs as they are then. (PL/pgSQL keeps its
plan for the session's next calls.) SQLite needs nothing: its transactions begin with the database's write lock.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 10:30:00.000000
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


CREATE = """
CREATE OR REPLACE FUNCTION engagebot_open_runs(customer integer, statuses text[])
RETURNS SETOF conversation_runs LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN QUERY SELECT * FROM conversation_runs
        WHERE conversation_runs.customer_id = customer AND conversation_runs.status = ANY(statuses);
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CREATE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS engagebot_open_runs(integer, text[])")

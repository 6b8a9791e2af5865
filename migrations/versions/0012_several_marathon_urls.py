"""A cluster may list several Marathon instances: `clusters.marathon_urls`.

berth asks any of them `GET /v2/leader` and sends its calls to the leader. The old
`marathon_url` column stays and always holds the first of the list, so that readers of
one URL (and the public `marathon_url` field) keep working. Existing clusters get a list
of their one URL. `mesos_masters` needs no change: a `zk://` entry is a string like the
URLs already kept there.

The column is added NOT NULL with a server default of an empty list, which SQLite can do
without rebuilding `clusters` (a rebuild would have to drop a table that others refer to).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-12 09:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("clusters") as batch_op:
        batch_op.add_column(
            sa.Column("marathon_urls", sa.JSON(), server_default="[]", nullable=False)
        )
    clusters = sa.table(
        "clusters",
        sa.column("id", sa.Integer()),
        sa.column("marathon_url", sa.String()),
        sa.column("marathon_urls", sa.JSON()),
    )
    bind = op.get_bind()
    for cluster_id, url in bind.execute(sa.select(clusters.c.id, clusters.c.marathon_url)):
        bind.execute(
            clusters.update().where(clusters.c.id == cluster_id).values(marathon_urls=[url])
        )


def downgrade() -> None:
    """Downgrade schema: `marathon_url` already holds the first URL.

    A plain ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35) rather than a batch rebuild: with
    foreign keys on, rebuilding `clusters` would mean dropping a table others refer to.
    """
    op.drop_column("clusters", "marathon_urls")

"""The weighted, provably fair draw: every event commits to its draw seed
(``seed_commitment``, hex SHA-256 of ``paddock-draw-v1:<seed>``; existing events get theirs
computed here), an organizer may hold the seed instead of the server (``seed_source``,
``draw_seed`` then empty until revealed); a draw run records its algorithm, the seed's
source and commitment, the applicants' weights and the capacity drawn for. Runs made before
are ``legacy-shuffle``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 21:40:00.000000
"""

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENTS = sa.table(
    "events",
    sa.column("id", sa.Uuid()),
    sa.column("draw_seed", sa.BigInteger()),
    sa.column("seed_commitment", sa.String()),
)


def _commitment(seed: int) -> str:
    return hashlib.sha256(f"paddock-draw-v1:{seed}".encode()).hexdigest()


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("seed_commitment", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "seed_source",
                sqlmodel.sql.sqltypes.AutoString(length=20),
                server_default="server",
                nullable=False,
            )
        )
        batch_op.alter_column("draw_seed", existing_type=sa.BigInteger(), nullable=True)

    connection = op.get_bind()
    for event_id, seed in connection.execute(sa.select(EVENTS.c.id, EVENTS.c.draw_seed)).all():
        connection.execute(
            EVENTS.update().where(EVENTS.c.id == event_id).values(seed_commitment=_commitment(seed))
        )

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.alter_column(
            "seed_commitment",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=64),
            nullable=False,
        )
        batch_op.create_check_constraint(
            op.f("ck_events_seed_source_known"), "seed_source IN ('server', 'organizer')"
        )
        batch_op.create_check_constraint(
            op.f("ck_events_seed_held_by_its_source"),
            "(seed_source = 'server' AND draw_seed IS NOT NULL)"
            " OR (seed_source = 'organizer' AND draw_seed IS NULL)",
        )

    with op.batch_alter_table("draw_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "algorithm",
                sqlmodel.sql.sqltypes.AutoString(length=40),
                server_default="legacy-shuffle",
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column(
                "seed_source",
                sqlmodel.sql.sqltypes.AutoString(length=20),
                server_default="server",
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column("seed_commitment", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(sa.Column("weights", sa.JSON(), server_default="{}", nullable=False))
        batch_op.add_column(sa.Column("capacity", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("draw_runs", schema=None) as batch_op:
        batch_op.drop_column("capacity")
        batch_op.drop_column("weights")
        batch_op.drop_column("seed_commitment")
        batch_op.drop_column("seed_source")
        batch_op.drop_column("algorithm")

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_events_seed_held_by_its_source"), type_="check")
        batch_op.drop_constraint(op.f("ck_events_seed_source_known"), type_="check")
    # An organizer's seed is known once revealed (the draw run's); before that, none was.
    op.execute(
        "UPDATE events SET draw_seed = COALESCE("
        "(SELECT seed FROM draw_runs WHERE draw_runs.event_id = events.id), 0) "
        "WHERE draw_seed IS NULL"
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.alter_column("draw_seed", existing_type=sa.BigInteger(), nullable=False)
        batch_op.drop_column("seed_source")
        batch_op.drop_column("seed_commitment")

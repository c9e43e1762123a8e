"""The scheduler's next fire time per schedule, and indexes for its per-pass queries.

A pass asks for enabled schedules with ``next_fire_at <= now`` (or NULL: just
saved) instead of computing ticks for every schedule. Existing enabled schedules
get their next fire time here, from the same rule the scheduler uses; one whose
stored settings no longer parse keeps NULL and is looked at on each pass, as before.

Revision ID: 0005
Revises: 0003
"""
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _aware(dt):
    if dt is None:
        return None
    if isinstance(dt, str):  # SQLite hands back text through a plain table
        dt = datetime.fromisoformat(dt)
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _backfill() -> None:
    from cubelab_hub.domain.errors import FieldError, FieldErrors
    from cubelab_hub.domain.schedules import next_fire_time, schedule_from_dict

    pipelines = sa.table(
        "pipelines",
        sa.column("id", sa.Integer),
        sa.column("body", sa.JSON),
        sa.column("schedule_enabled", sa.Boolean),
        sa.column("schedule_enabled_at", sa.DateTime(timezone=True)),
        sa.column("last_tick", sa.DateTime(timezone=True)),
        sa.column("next_fire_at", sa.DateTime(timezone=True)),
    )
    bind = op.get_bind()
    now = datetime.now(timezone.utc)
    rows = bind.execute(sa.select(pipelines.c.id, pipelines.c.body, pipelines.c.schedule_enabled_at, pipelines.c.last_tick)
                        .where(pipelines.c.schedule_enabled.is_(True))).all()
    for pid, body, enabled_at, last_tick in rows:
        try:
            settings = schedule_from_dict((body or {}).get("schedule"))
            fire = next_fire_time(settings, _aware(last_tick), _aware(enabled_at), now)
        except (FieldError, FieldErrors):
            continue
        if fire is not None:
            # stored as naive UTC on SQLite, like every other time of the control plane
            bind.execute(pipelines.update().where(pipelines.c.id == pid).values(next_fire_at=fire))


def upgrade() -> None:
    with op.batch_alter_table("pipelines") as batch:
        batch.add_column(sa.Column("next_fire_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_pipelines_schedule_next_fire", "pipelines", ["schedule_enabled", "next_fire_at"])
    op.create_index("ix_schedule_records_status_pipeline", "pipeline_schedule_records", ["status", "pipeline_id"])
    _backfill()


def downgrade() -> None:
    op.drop_index("ix_schedule_records_status_pipeline", table_name="pipeline_schedule_records")
    op.drop_index("ix_pipelines_schedule_next_fire", table_name="pipelines")
    with op.batch_alter_table("pipelines") as batch:
        batch.drop_column("next_fire_at")

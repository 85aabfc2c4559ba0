"""Robot calls (智能语音外呼): a task in `robot_call_tasks` for the outbound dialler integration.

Queuing the task is the send; each task is one dial and counts toward the per-number dial cap.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from daihou.channels.ports import Failed, Message, Sent
from daihou.storage import tables as t


class RobotCallQueue:
    name = "robot_call"

    def __init__(self, engine: Engine, now: Callable[[], datetime]) -> None:
        self.engine, self.now = engine, now

    def send(self, message: Message) -> Sent | Failed:
        if not message.address:
            return Failed("no_address", "the borrower has no phone number", retryable=False)
        values = {
            "reminder_id": message.reminder_id,
            "phone": message.address,
            "script": message.body,
            "status": "queued",
            "created_at": self.now().astimezone(UTC),
        }
        try:
            with self.engine.begin() as conn:
                task = conn.execute(insert(t.robot_call_tasks).values(values).returning(t.robot_call_tasks.c.id))
                return Sent(f"call-task:{task.scalar_one()}")
        except IntegrityError:
            with self.engine.connect() as conn:
                q = select(t.robot_call_tasks.c.id).where(t.robot_call_tasks.c.reminder_id == message.reminder_id)
                found = conn.execute(q).scalar()
            if found is None:
                raise
            return Sent(f"call-task:{found}")

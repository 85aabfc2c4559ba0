"""The borrower portal's inbox (站内信): a row in `inbox_messages`, delivered the moment it is written.

One message per reminder (a unique key): sending the same reminder again returns the first message.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from daihou.channels.ports import Failed, Message, Sent
from daihou.storage import tables as t


class PortalInbox:
    name = "inbox"

    def __init__(self, engine: Engine, now: Callable[[], datetime]) -> None:
        self.engine, self.now = engine, now

    def send(self, message: Message) -> Sent | Failed:
        values = {
            "borrower_id": message.borrower_id,
            "reminder_id": message.reminder_id,
            "subject": message.subject[:200],
            "body": message.body,
            "locale": message.locale,
            "created_at": self.now().astimezone(UTC),
        }
        try:
            with self.engine.begin() as conn:
                new_id = conn.execute(insert(t.inbox_messages).values(values).returning(t.inbox_messages.c.id))
                return Sent(f"inbox:{new_id.scalar_one()}", delivered=True)
        except IntegrityError:
            with self.engine.connect() as conn:
                q = select(t.inbox_messages.c.id).where(t.inbox_messages.c.reminder_id == message.reminder_id)
                found = conn.execute(q).scalar()
            if found is None:
                raise
            return Sent(f"inbox:{found}", delivered=True)

"""What a channel is to the workflow: send one message, get Sent or Failed back. Never raises for
a delivery problem; a bug still raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Message:
    reminder_id: int
    channel: str
    address: str  # mobile number, e-mail address or borrower id (inbox)
    subject: str
    body: str
    locale: str
    borrower_id: int = 0
    provider_code: str = ""  # the provider-registered template (SMS)
    params: dict[str, str] = field(default_factory=dict)  # the template's variables, for provider templates


@dataclass(frozen=True, slots=True)
class Sent:
    provider_message_id: str
    delivered: bool = False  # True when the channel itself confirms delivery (the inbox)


@dataclass(frozen=True, slots=True)
class Failed:
    code: str
    reason: str
    retryable: bool = True


class ChannelPort(Protocol):
    name: str

    def send(self, message: Message) -> Sent | Failed: ...

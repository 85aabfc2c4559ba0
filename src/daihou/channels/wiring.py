"""The channels that the settings configure, ready to send. Called by `daihou.workflow.reminders.build`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from daihou.channels.inbox import PortalInbox
from daihou.channels.ports import ChannelPort
from daihou.channels.robot_call import RobotCallQueue
from daihou.channels.settings import ChannelSettings
from daihou.channels.sms import AliyunStyleSms
from daihou.channels.smtp import SmtpEmail


def from_settings(
    settings: ChannelSettings | None, engine: Engine, now: Callable[[], datetime]
) -> dict[str, ChannelPort]:
    s = settings or ChannelSettings()
    out: dict[str, ChannelPort] = {}
    if s.inbox:
        out["inbox"] = PortalInbox(engine, now)
    if s.robot_call:
        out["robot_call"] = RobotCallQueue(engine, now)
    if s.smtp_host:
        password = s.smtp_password.get_secret_value() if s.smtp_password else None
        out["email"] = SmtpEmail(
            s.smtp_host, s.smtp_port, s.smtp_from, s.smtp_username, password, s.smtp_starttls, s.timeout_s
        )
    if s.sms_endpoint and s.sms_access_key_id and s.sms_access_key_secret:
        secret = s.sms_access_key_secret.get_secret_value()
        out["sms"] = AliyunStyleSms(
            s.sms_endpoint, s.sms_access_key_id, secret, s.sms_sign_name, s.sms_region, s.timeout_s, utcnow=now
        )
    return out

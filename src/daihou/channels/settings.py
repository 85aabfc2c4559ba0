"""Channel settings, read from the environment (DAIHOU_CHANNELS_*). A channel without its settings
is not wired: its reminders wait, unsent and undropped, until it is configured."""

from __future__ import annotations

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDERS = frozenset({"changeme", "change-me", "change_me", "secret", "password", "xxx", "todo", "placeholder"})


class ChannelSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DAIHOU_CHANNELS_", extra="ignore")

    # e-mail over SMTP
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "noreply@example.com"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    # SMS through an Aliyun-style SendSms gateway
    sms_endpoint: str | None = None  # e.g. https://dysmsapi.aliyuncs.com/
    sms_access_key_id: str | None = None
    sms_access_key_secret: SecretStr | None = None
    sms_sign_name: str = "示例银行"
    sms_region: str = "cn-hangzhou"
    # the borrower portal inbox and the robot-call queue are tables in the store: on unless turned off
    inbox: bool = True
    robot_call: bool = True
    timeout_s: float = 10.0

    @field_validator("smtp_password", "sms_access_key_secret")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and (not value.get_secret_value().strip() or _placeholder(value.get_secret_value())):
            raise ValueError("is a placeholder: set the real secret or leave it unset")
        return value


def _placeholder(text: str) -> bool:
    s = text.strip().lower()
    return s in PLACEHOLDERS or (s.startswith("<") and s.endswith(">")) or set(s) <= {"x", "*"}

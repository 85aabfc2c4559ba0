"""Payment gateway adapter for the borrower portal: create an order (a redirect to the gateway's
cashier page), then verify the gateway's signed callback.

The protocol is the common shape of Chinese aggregators (Alipay / WeChat Pay / UnionPay style
redirect + asynchronous notify), reduced to what the portal needs:

- redirect: `GET {base_url}/pay?merchant_id&order_no&amount_fen&subject&return_url&notify_url&timestamp&sign`
- callback: `POST notify_url` form fields `merchant_id, order_no, txn_id, amount_fen, status, timestamp, sign`
- `sign` = lowercase hex HMAC-SHA256(secret, "k1=v1&k2=v2…" over every other non-empty field sorted by name).

The portal answers a callback once per gateway transaction id (`txn_id`): replays are acknowledged
and move no money (see `daihou.web.portal`). `sign_params` is public so that the fake gateway used
in tests and demos signs exactly as a real one must.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from daihou.channels.settings import _placeholder

PAID = "paid"
FAKE_PATH = "/_fake_gateway"  # the in-process fake cashier (demo and tests only)


class PaymentGatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DAIHOU_PAYMENT_", extra="ignore")

    base_url: str | None = None  # the gateway's cashier, e.g. https://pay.example.com
    merchant_id: str = "daihou-demo"
    secret: SecretStr | None = None
    # serve a fake cashier inside daihou (demo and tests): a random secret per process when none is set
    fake: bool = False

    @field_validator("secret")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and (not value.get_secret_value().strip() or _placeholder(value.get_secret_value())):
            raise ValueError("is a placeholder: set the gateway's real key or leave it unset")
        return value


def canonical(params: Mapping[str, str]) -> str:
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "sign" and params[k] != "")


def sign_params(secret: str, params: Mapping[str, str]) -> str:
    return hmac.new(secret.encode(), canonical(params).encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Callback:
    order_no: str
    txn_id: str
    amount_fen: int
    status: str  # "paid" or the gateway's failure status


@dataclass(frozen=True, slots=True)
class Invalid:
    code: str  # bad_signature, wrong_merchant, missing_field
    reason: str


class HmacGateway:
    def __init__(self, base_url: str, merchant_id: str, secret: str) -> None:
        self.base_url, self.merchant_id, self._secret = base_url.rstrip("/"), merchant_id, secret

    def redirect_url(
        self, order_no: str, amount_fen: int, subject: str, return_url: str, notify_url: str, timestamp: str
    ) -> str:
        params = {
            "merchant_id": self.merchant_id,
            "order_no": order_no,
            "amount_fen": str(amount_fen),
            "subject": subject,
            "return_url": return_url,
            "notify_url": notify_url,
            "timestamp": timestamp,
        }
        params["sign"] = sign_params(self._secret, params)
        return f"{self.base_url}/pay?{urllib.parse.urlencode(params)}"

    def verify(self, form: Mapping[str, str]) -> Callback | Invalid:
        fields = ("merchant_id", "order_no", "txn_id", "amount_fen", "status", "timestamp", "sign")
        missing = [f for f in fields if not form.get(f)]
        if missing:
            return Invalid("missing_field", f"callback lacks {', '.join(missing)}")
        params = {k: str(form[k]) for k in form}
        if not hmac.compare_digest(sign_params(self._secret, params), params["sign"]):
            return Invalid("bad_signature", "the callback's signature does not verify")
        if params["merchant_id"] != self.merchant_id:
            return Invalid("wrong_merchant", f"callback for merchant {params['merchant_id']}")
        if not params["amount_fen"].isdigit():
            return Invalid("missing_field", "amount_fen is not a whole number of fen")
        return Callback(params["order_no"], params["txn_id"], int(params["amount_fen"]), params["status"])

    def sign(self, params: Mapping[str, str]) -> str:
        """Sign as the gateway does (the fake cashier's callback)."""
        return sign_params(self._secret, params)


def from_settings(settings: PaymentGatewaySettings | None, own_base_url: str = "") -> HmacGateway | None:
    """The configured gateway; the in-process fake when `fake`; None when not configured."""
    s = settings or PaymentGatewaySettings()
    if s.fake:
        secret = s.secret.get_secret_value() if s.secret else _FAKE_SECRET
        return HmacGateway((s.base_url or own_base_url.rstrip("/")) + FAKE_PATH, s.merchant_id, secret)
    if s.base_url and s.secret:
        return HmacGateway(s.base_url, s.merchant_id, s.secret.get_secret_value())
    return None


_FAKE_SECRET = secrets.token_hex(32)

"""SMS through an HTTP gateway shaped like Aliyun's SendSms (dysmsapi, API version 2017-05-25).

The request is an RPC-style POST: PhoneNumbers, SignName, TemplateCode, TemplateParam (JSON), the
common parameters (AccessKeyId, Timestamp, SignatureNonce, …) and Signature = Base64(HMAC-SHA1(
secret + "&", "POST&%2F&" + percent-encoded sorted query)). The answer is JSON with `Code` "OK" and
a `BizId` (the provider message id), or an error code. Transport errors, HTTP 5xx and the provider's
transient codes are retryable; a wrong number, template or signature is not.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from daihou.channels.ports import Failed, Message, Sent

API_VERSION = "2017-05-25"
# Error codes a retry cannot fix (Aliyun's isv.* client errors); everything else is retried.
PERMANENT_CODES = frozenset(
    {
        "isv.MOBILE_NUMBER_ILLEGAL",
        "isv.SMS_TEMPLATE_ILLEGAL",
        "isv.SMS_SIGNATURE_ILLEGAL",
        "isv.TEMPLATE_MISSING_PARAMETERS",
        "isv.INVALID_PARAMETERS",
        "isv.BLACK_KEY_CONTROL_LIMIT",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId.NotFound",
    }
)


def percent_encode(text: str) -> str:
    """RFC 3986 encoding as the signature needs it: spaces as %20, `~` kept, `*` encoded."""
    return urllib.parse.quote(text, safe="~")


def string_to_sign(method: str, params: Mapping[str, str]) -> str:
    query = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))
    return f"{method}&{percent_encode('/')}&{percent_encode(query)}"


def signature(secret: str, method: str, params: Mapping[str, str]) -> str:
    digest = hmac.new(f"{secret}&".encode(), string_to_sign(method, params).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class AliyunStyleSms:
    name = "sms"

    def __init__(
        self,
        endpoint: str,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
        region: str = "cn-hangzhou",
        timeout_s: float = 10.0,
        utcnow: Callable[[], datetime] = lambda: datetime.now(UTC),  # only for the request timestamp
    ) -> None:
        self.endpoint, self.key_id, self.secret = endpoint, access_key_id, access_key_secret
        self.sign_name, self.region, self.timeout_s, self.utcnow = sign_name, region, timeout_s, utcnow

    def request_params(self, message: Message) -> dict[str, str]:
        params = {
            "AccessKeyId": self.key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "RegionId": self.region,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "Timestamp": self.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": API_VERSION,
            "PhoneNumbers": message.address,
            "SignName": self.sign_name,
            "TemplateCode": message.provider_code,
            "TemplateParam": json.dumps(message.params, ensure_ascii=False, separators=(",", ":")),
            "OutId": str(message.reminder_id),  # echoed in delivery receipts
        }
        return {**params, "Signature": signature(self.secret, "POST", params)}

    def send(self, message: Message) -> Sent | Failed:
        if not message.address:
            return Failed("no_address", "the borrower has no mobile number", retryable=False)
        if not message.provider_code:
            return Failed("no_provider_template", "the template has no provider_code for SMS", retryable=False)
        body = urllib.parse.urlencode(self.request_params(message)).encode()
        request = urllib.request.Request(
            self.endpoint, data=body, method="POST", headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                answer = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            return _from_error(exc)
        except (OSError, ValueError) as exc:
            return Failed("sms_unreachable", f"{type(exc).__name__}: {exc}"[:200])
        if answer.get("Code") == "OK":
            return Sent(str(answer.get("BizId", "")))
        code = str(answer.get("Code", "unknown"))
        return Failed(code, str(answer.get("Message", ""))[:200], code not in PERMANENT_CODES)


def _from_error(exc: urllib.error.HTTPError) -> Failed:
    try:
        answer = json.loads(exc.read().decode("utf-8"))
        code = str(answer.get("Code", f"http_{exc.code}"))
        message = str(answer.get("Message", exc.reason))
    except ValueError:
        code, message = f"http_{exc.code}", str(exc.reason)
    return Failed(code, message[:200], exc.code >= 500 or code not in PERMANENT_CODES)

"""Objects in the evidence bucket: the checksums S3 keeps, and what its errors mean.

Shared by the unit's uploader and the office's bucket tools.
"""
from __future__ import annotations

import base64
import hashlib

from firmware.protocol.bucket.errors import (BucketRefusedError, EndpointUnavailableError,
                                             ObjectRejectedError)

_REFUSED = frozenset({"NoSuchBucket", "AccessDenied", "InvalidAccessKeyId",
                      "SignatureDoesNotMatch", "AllAccessDisabled", "AccountProblem",
                      "InvalidObjectState"})
_TRANSIENT = frozenset({"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout",
                        "RequestTimeTooSkewed", "ConditionalRequestConflict", "OperationAborted",
                        "InternalError", "ServiceUnavailable"})


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def composite_checksum(part_digests: list[bytes]) -> str:
    """S3's checksum of a multipart object: SHA-256 over the parts' raw SHA-256 digests."""
    return b64(hashlib.sha256(b"".join(part_digests)).digest())


def classify(exc: BaseException, what: str) -> BaseException:
    """The sync error for a failed request (``what`` names it for the message)."""
    from botocore.exceptions import BotoCoreError, ClientError
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        text = f"{what}: {code or status} {err.get('Message', '')}".strip()
        if status >= 500 or code in _TRANSIENT or status in (408, 429):
            return EndpointUnavailableError(f"{text} (after the client's retries)")
        if code in _REFUSED or status == 403:
            return BucketRefusedError(f"{text}: check the bucket name, the unit's credentials "
                                      "and its policy (docs/sync.md)")
        if "lock" in err.get("Message", "").lower():
            return BucketRefusedError(f"{text}: the bucket needs Object Lock enabled (or set "
                                      "retention_mode = \"bucket-default\")")
        return ObjectRejectedError(text)
    if isinstance(exc, BotoCoreError):
        return EndpointUnavailableError(f"{what}: {exc}")
    return exc


def error_code(exc: BaseException) -> str:
    from botocore.exceptions import ClientError
    return exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""

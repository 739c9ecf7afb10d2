"""``dualrec verify SPOOL --bucket s3://BUCKET/PREFIX``: the cloud copies of pruned files.

A pruned GAP lets the unit delete sealed files whose upload was confirmed; it names each
file's object key, version and checksum. Locally that is only the unit's word. With the
bucket at hand, each named object version must exist under this device's root at the file's
own path, with the sealed size and SHA-256 (the checksum the bucket keeps for single-part
objects; for multipart objects, whose checksum is a checksum of parts, the version is read
and hashed). Anything else is a ``pruned_copy_missing`` finding.
"""
from __future__ import annotations

import base64
import hashlib
from typing import Any, Callable

from firmware.protocol.bucket.layout import device_root, object_key, parse_s3_url
from firmware.evidence.verify.chain import Chain
from firmware.evidence.verify.report import VerifyReport


def _problem(client: Any, bucket: str, key: str, item: dict) -> str | None:
    try:
        head = client.head_object(Bucket=bucket, Key=key, VersionId=item["version_id"],
                                  ChecksumMode="ENABLED")
    except Exception as exc:  # noqa: BLE001 - botocore: 404, 403, no such version
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        return f"version {item['version_id']} of {key} cannot be read ({code})"
    if head.get("ContentLength") != item["size"]:
        return f"{key} version {item['version_id']}: {head.get('ContentLength')} bytes, " \
               f"sealed with {item['size']}"
    want = base64.b64encode(bytes.fromhex(item["sha256"])).decode()
    checksum = head.get("ChecksumSHA256") or ""
    if checksum and "-" not in checksum:
        return None if checksum == want else f"{key}: the bucket's SHA-256 is not the sealed one"
    body = client.get_object(Bucket=bucket, Key=key, VersionId=item["version_id"])["Body"]
    h = hashlib.sha256()
    for chunk in iter(lambda: body.read(1 << 20), b""):
        h.update(chunk)
    return None if h.hexdigest() == item["sha256"] else \
        f"{key} version {item['version_id']}: its bytes are not the sealed ones"


def pruned_copy_check(client: Any, url: str) -> Callable[[Chain, VerifyReport], None]:
    """A ``bucket_check`` for :func:`firmware.evidence.verify.verify_path`."""
    bucket, prefix = parse_s3_url(url)

    def check(chain: Chain, report: VerifyReport) -> None:
        root = device_root(prefix, report.device_id)
        bad = 0
        for path, item in sorted(chain.pruned.items()):
            key = object_key(root, path)
            problem = (f"the GAP names object {item['key']!r}, not {key!r}"
                       if item["key"] != key else _problem(client, bucket, key, item))
            if problem:
                bad += 1
                report.add("pruned_copy_missing", problem, file=path, record=item["gap"])
        report.levels["pruned"] = (f"{len(chain.pruned)} pruned files checked against "
                                   f"{url}: {len(chain.pruned) - bad} there")
    return check

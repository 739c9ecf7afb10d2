"""One object into the bucket, exactly once: PUT or resumable multipart, then HEAD to confirm.

Every write carries the file's SHA-256 (``x-amz-checksum-sha256``; per part for multipart) so
the store refuses bytes that are not the ones the chain sealed, and ``If-None-Match: *`` so
nothing is ever overwritten. A 412 means something is at the key already: it counts as "already
there" only after a HEAD shows the same size and checksum; else :class:`ObjectConflictError`.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from firmware.evidence import durable
from firmware.protocol.bucket.errors import (EndpointUnavailableError, LocalFileMismatchError,
                                             ObjectConflictError)
from firmware.protocol.bucket.objects import b64, classify, composite_checksum, error_code
from firmware.unit.sync.retention import RetentionPolicy
from firmware.unit.sync.state import MultipartUpload, Part, SyncStateDB
from firmware.unit.sync.throttle import TokenBucket, upload_body

log = logging.getLogger(__name__)

MAX_PARTS = 10_000
MiB = 1024 * 1024
def part_size_for(size: int, part_size: int) -> int:
    """``part_size``, grown (in whole MiB) when the file would need more than 10,000 parts."""
    if -(-size // part_size) <= MAX_PARTS:
        return part_size
    need = -(-size // MAX_PARTS)
    return -(-need // MiB) * MiB


@dataclass(frozen=True)
class Upload:
    """What to write: bytes [offset, offset + size) of ``path`` as object ``key``."""

    key: str
    path: Path
    size: int
    sha256: str | None          # hex, from the chain; None: whatever the local bytes hash to
    offset: int = 0


@dataclass(frozen=True)
class Stored:
    """An object confirmed by HEAD."""

    key: str
    sha256: str                 # hex SHA-256 of the whole object
    checksum: str               # the bucket's checksum (base64, composite ones end in -N)
    version_id: str | None
    written: bool               # written by this call (else it was there already)
    size: int


@dataclass(frozen=True)
class Head:
    size: int
    checksum: str | None
    version_id: str | None
    metadata: dict


def _is_412(exc: BaseException) -> bool:
    from botocore.exceptions import ClientError
    return isinstance(exc, ClientError) and (
        exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 412
        or exc.response.get("Error", {}).get("Code") == "PreconditionFailed")


def read_range(path: Path, offset: int, size: int) -> bytes:
    with durable.open_reading(path) as f:
        f.seek(offset)
        data = f.read(size)
    if len(data) != size:
        raise LocalFileMismatchError(f"{path}: {len(data)} bytes at {offset}, expected {size}")
    return data


def file_digests(path: Path, offset: int, size: int, part_size: int) -> tuple[str, list[bytes]]:
    """Hex SHA-256 of the range and the raw SHA-256 of each ``part_size`` piece of it."""
    full = hashlib.sha256()
    parts = []
    with durable.open_reading(path) as f:
        f.seek(offset)
        left = size
        while left > 0:
            chunk = f.read(min(part_size, left))
            if not chunk:
                raise LocalFileMismatchError(f"{path}: shorter than the {size} bytes sealed")
            full.update(chunk)
            parts.append(hashlib.sha256(chunk).digest())
            left -= len(chunk)
    return full.hexdigest(), parts


class ObjectWriter:
    """Writes objects to one bucket; thread-safe (one client, one state DB, one limiter).

    ``now_wall_ns`` gives the wall time used for Object Lock retain-until dates.
    """

    def __init__(self, client: Any, bucket: str, state: SyncStateDB, retention: RetentionPolicy,
                 limiter: TokenBucket, *, part_size: int, multipart_threshold: int,
                 now_wall_ns: Callable[[], int]) -> None:
        self.client = client
        self.bucket = bucket
        self.state = state
        self.retention = retention
        self.limiter = limiter
        self.part_size = part_size
        self.multipart_threshold = multipart_threshold
        self.now_wall_ns = now_wall_ns

    # -- HEAD ----------------------------------------------------------------------------------
    def head(self, key: str) -> Head | None:
        """The object at ``key`` (its latest version), or None when there is none."""
        try:
            r = self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except Exception as exc:  # noqa: BLE001 - classified below
            if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise classify(exc, f"HEAD {key}") from exc
        return Head(r["ContentLength"], r.get("ChecksumSHA256"), r.get("VersionId"),
                    r.get("Metadata") or {})

    def confirm(self, key: str, size: int, expected: set[str]) -> Head | None:
        """HEAD ``key``: None when absent; the head when size and checksum match one of
        ``expected`` (base64; a composite ``X-N`` matches ``X`` too); else a conflict."""
        head = self.head(key)
        if head is None:
            return None
        found = head.checksum or ""
        if head.size == size and (found in expected or found.split("-")[0] in expected):
            return head
        raise ObjectConflictError(key, sorted(expected)[0],
                                  f"{head.size} bytes, SHA-256 {found or 'none'}")

    def expected_for(self, up: Upload, head: Head | None) -> tuple[str, set[str]]:
        """The hex SHA-256 of ``up`` and the checksums its object may carry (whole-object,
        or composite with the part size the object was written with)."""
        part_size = part_size_for(up.size, self.part_size)
        if head is not None and head.metadata.get("part-size", "").isdigit():
            part_size = int(head.metadata["part-size"]) or part_size
        digest, parts = file_digests(up.path, up.offset, up.size, part_size)
        if up.sha256 is not None and digest != up.sha256:
            raise LocalFileMismatchError(f"{up.path}: SHA-256 {digest} is not the sealed "
                                         f"{up.sha256}; not uploaded (run dualrec verify)")
        whole = b64(bytes.fromhex(digest))
        composite = composite_checksum(parts)
        return digest, {whole, composite, f"{composite}-{len(parts)}"}

    # -- writing -------------------------------------------------------------------------------
    def send(self, up: Upload, stop: Callable[[], bool] = lambda: False) -> Stored:
        """Write ``up`` unless it is there already; confirm it by HEAD either way."""
        if up.size > self.multipart_threshold:
            return self._multipart(up, stop)
        data = read_range(up.path, up.offset, up.size)
        digest = hashlib.sha256(data).digest()
        if up.sha256 is not None and digest.hex() != up.sha256:
            raise LocalFileMismatchError(f"{up.path}: SHA-256 {digest.hex()} is not the sealed "
                                         f"{up.sha256}; not uploaded (run dualrec verify)")
        checksum = b64(digest)
        try:
            r = self.client.put_object(
                Bucket=self.bucket, Key=up.key, Body=upload_body(data, self.limiter),
                ContentLength=up.size, ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum,
                IfNoneMatch="*", Metadata={"sha256": digest.hex()},
                **self.retention.lock_args(self.now_wall_ns()))
        except Exception as exc:  # noqa: BLE001 - classified below
            if not _is_412(exc):
                raise classify(exc, f"PUT {up.key}") from exc
            return self._already(up, digest.hex(), {checksum})
        return self._confirmed(up, digest.hex(), {checksum}, r.get("VersionId"), True)

    def _already(self, up: Upload, digest: str, expected: set[str]) -> Stored:
        """After a 412: the object there must be ours, byte for byte (HEAD decides)."""
        head = self.confirm(up.key, up.size, expected)
        if head is None:  # gone between the 412 and the HEAD: only a non-locked bucket does that
            raise EndpointUnavailableError(f"{up.key}: 412 on PUT but no object on HEAD; "
                                           "will retry")
        log.info("%s was in the bucket already (checksum confirmed)", up.key)
        return Stored(up.key, digest, head.checksum or "", head.version_id, False, up.size)

    def _confirmed(self, up: Upload, digest: str, expected: set[str], version: str | None,
                   written: bool) -> Stored:
        head = self.confirm(up.key, up.size, expected)
        if head is None:
            raise EndpointUnavailableError(f"{up.key}: written, but HEAD finds no object; the "
                                           "store is not consistent yet, will retry")
        if version and head.version_id and head.version_id != version:
            raise ObjectConflictError(up.key, sorted(expected)[0],
                                      f"another version {head.version_id} on top of ours")
        return Stored(up.key, digest, head.checksum or "", head.version_id, written, up.size)

    # -- multipart -----------------------------------------------------------------------------
    def _multipart(self, up: Upload, stop: Callable[[], bool]) -> Stored:
        part_size = part_size_for(up.size, self.part_size)
        head = self.head(up.key)
        if head is not None:
            digest, expected = self.expected_for(up, head)
            self.state.drop_multipart(up.key)
            return self._already(up, digest, expected)
        mp = self._open_upload(up, part_size)
        done = self.state.parts(up.key)
        full = hashlib.sha256()
        digests: list[bytes] = []
        parts: list[dict] = []
        with durable.open_reading(up.path) as f:
            f.seek(up.offset)
            for number in range(1, -(-up.size // part_size) + 1):
                chunk = f.read(min(part_size, up.size - (number - 1) * part_size))
                full.update(chunk)
                digest = hashlib.sha256(chunk).digest()
                digests.append(digest)
                part = done.get(number)
                if part is None or part.checksum != b64(digest) or part.size != len(chunk):
                    if stop():
                        raise EndpointUnavailableError(f"{up.key}: stopped at part {number}")
                    part = self._send_part(up, mp, number, chunk, b64(digest))
                parts.append({"PartNumber": number, "ETag": part.etag,
                              "ChecksumSHA256": part.checksum})
        if up.sha256 is not None and full.hexdigest() != up.sha256:
            self._abort(up.key, mp.upload_id)
            raise LocalFileMismatchError(f"{up.path}: SHA-256 {full.hexdigest()} is not the "
                                         f"sealed {up.sha256}; upload aborted")
        composite = composite_checksum(digests)
        expected = {composite, f"{composite}-{len(digests)}"}
        try:
            r = self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=up.key, UploadId=mp.upload_id, IfNoneMatch="*",
                MultipartUpload={"Parts": parts})
        except Exception as exc:  # noqa: BLE001 - classified below
            if _is_412(exc):
                self.state.drop_multipart(up.key)
                return self._already(up, full.hexdigest(), expected)
            if error_code(exc) == "NoSuchUpload":  # completed by an attempt whose answer was lost?
                self.state.drop_multipart(up.key)
                if self.head(up.key) is not None:
                    return self._already(up, full.hexdigest(), expected)
                raise EndpointUnavailableError(f"{up.key}: the store forgot upload "
                                               f"{mp.upload_id}; starting over next run") from exc
            raise classify(exc, f"complete multipart {up.key}") from exc
        stored = self._confirmed(up, full.hexdigest(), expected, r.get("VersionId"), True)
        self.state.drop_multipart(up.key)
        return stored

    def _open_upload(self, up: Upload, part_size: int) -> MultipartUpload:
        """The multipart upload of ``up`` persisted in state (resumed), else a new one."""
        mp = self.state.multipart(up.key)
        if mp is not None and (mp.size, mp.sha256, mp.part_size) == (
                up.size, up.sha256 or "", part_size):
            try:  # still known to the store?
                self.client.list_parts(Bucket=self.bucket, Key=up.key, UploadId=mp.upload_id,
                                       MaxParts=1)
                log.info("%s: resuming multipart upload with %d parts done", up.key,
                         len(self.state.parts(up.key)))
                return mp
            except Exception as exc:  # noqa: BLE001 - classified below
                if error_code(exc) != "NoSuchUpload":
                    raise classify(exc, f"list parts {up.key}") from exc
                log.warning("%s: the store forgot multipart upload %s; starting over",
                            up.key, mp.upload_id)
        elif mp is not None:
            self._abort(up.key, mp.upload_id)
        meta = {"part-size": str(part_size)}
        if up.sha256:
            meta["sha256"] = up.sha256
        try:
            r = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=up.key, ChecksumAlgorithm="SHA256", Metadata=meta,
                **self.retention.lock_args(self.now_wall_ns()))
        except Exception as exc:  # noqa: BLE001 - classified below
            raise classify(exc, f"create multipart {up.key}") from exc
        mp = MultipartUpload(up.key, r["UploadId"], up.sha256 or "", up.size, part_size)
        self.state.save_multipart(mp, self.now_wall_ns())
        return mp

    def _send_part(self, up: Upload, mp: MultipartUpload, number: int, chunk: bytes,
                   checksum: str) -> Part:
        try:
            r = self.client.upload_part(
                Bucket=self.bucket, Key=up.key, UploadId=mp.upload_id, PartNumber=number,
                Body=upload_body(chunk, self.limiter), ContentLength=len(chunk),
                ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum)
        except Exception as exc:  # noqa: BLE001 - classified below
            if error_code(exc) == "NoSuchUpload":
                self.state.drop_multipart(up.key)
            raise classify(exc, f"part {number} of {up.key}") from exc
        part = Part(number, r["ETag"], checksum, len(chunk))
        self.state.save_part(up.key, part)
        return part

    def _abort(self, key: str, upload_id: str) -> None:
        self.state.drop_multipart(key)
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except Exception as exc:  # noqa: BLE001 - parts left behind expire by lifecycle rule
            log.warning("%s: could not abort multipart upload %s (%s); a lifecycle rule "
                        "removes incomplete uploads", key, upload_id, exc)

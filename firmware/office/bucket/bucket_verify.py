"""``dualrec verify s3://BUCKET/PREFIX``: verify evidence straight from the bucket.

The device root's objects are fetched into a temporary directory laid out as a spool
(:mod:`firmware.office.bucket.bucket_fetch`) and verified like a local spool
(:func:`firmware.evidence.verify.verify_path`: chain, signatures, every file's size and SHA-256). On
top come the bucket's own findings: an object with more than one version (overwritten or
deleted), an object whose stored checksum is missing or does not match its bytes, an object no
record or spool rule covers, ledger tail ranges that disagree with each other or the file.
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from firmware.errors import NotEvidenceError
from firmware.evidence.keys import PublicKey
from firmware.evidence.chain import chain_records, is_ledger_name
from firmware.evidence.ledger_files import LEDGER_DIR
from firmware.evidence.spool import DEVICE_DIR, DEVICE_INFO, RECOVERED_DIR, SESSIONS_DIR, STATE_DIR
from firmware.office.bucket.bucket_fetch import Fetched, fetch_root, find_roots
from firmware.protocol.bucket.layout import TAIL_DIR, parse_s3_url
from firmware.evidence.verify import verify_path
from firmware.evidence.verify.report import VerifyReport

BUCKET_FINDINGS = {
    "object_versions": "an object has more than one version, or was deleted (overwritten "
                       "or removed in the bucket)",
    "object_checksum": "an object's stored SHA-256 checksum is missing or does not match its "
                       "bytes",
    "uncovered_object": "an object under the prefix that no record or spool rule covers",
    "ledger_range_mismatch": "ledger tail ranges disagree with each other or with the file",
}


@dataclass(frozen=True)
class BucketFinding:
    kind: str
    key: str            # object key relative to the device root (a spool path)
    message: str

    def text(self) -> str:
        return f"[{self.kind}] {self.key}: {self.message}"


@dataclass
class BucketReport:
    """The verdict for one device root: the spool verification plus the bucket's findings."""

    url: str
    root: str
    verify: VerifyReport | None = None
    findings: list[BucketFinding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    objects: int = 0
    bytes: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings and (self.verify is None or self.verify.ok)

    def add(self, kind: str, key: str, message: str) -> None:
        if kind not in BUCKET_FINDINGS:
            raise ValueError(f"unknown bucket finding kind {kind!r}")
        self.findings.append(BucketFinding(kind, key, message))

    def to_text(self) -> str:
        lines = [self.verify.to_text() if self.verify else f"dualrec verify: {self.url}",
                 f"  bucket    {self.url} ({self.objects} objects, {self.bytes:,} bytes)"]
        lines += [f"    - note: {n}" for n in self.notes]
        if self.findings:
            lines.append(f"  bucket findings ({len(self.findings)}):")
            lines += [f"    - {f.text()}" for f in self.findings]
        lines.append("bucket verdict: INTACT" if self.ok else
                     f"bucket verdict: NOT INTACT ({len(self.findings)} bucket findings, "
                     f"{len(self.verify.findings) if self.verify else 0} spool findings)")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        out = json.loads(self.verify.to_json()) if self.verify else {"path": self.url}
        out["s3"] = {"url": self.url, "root": self.root, "objects": self.objects,
                     "bytes": self.bytes, "findings": [asdict(f) for f in self.findings],
                     "notes": self.notes}
        out["verdict"] = "intact" if self.ok else "findings"
        return out


def _covered(spool_dir: Path) -> set[str]:
    """Every file path a record of the fetched ledger seals."""
    return {f.path for rec in chain_records(spool_dir) for f in rec.files}


def _check_objects(fetched: Fetched, report: BucketReport) -> None:
    covered = _covered(fetched.dest)
    for rel in fetched.deleted:
        report.add("object_versions", rel, "deleted: its latest version is a delete marker")
    for rel in fetched.unplaceable:
        report.add("uncovered_object", rel, "not a spool path")
    for rel, why in fetched.range_problems:
        report.add("ledger_range_mismatch", rel, why)
    for rel, obj in sorted(fetched.objects.items()):
        if obj.versions > 1:
            report.add("object_versions", rel, f"{obj.versions} versions: it was overwritten "
                       "(the unit writes each object once)")
        if not obj.checksum_ok:
            report.add("object_checksum", rel,
                       "no SHA-256 checksum stored" if not obj.checksum else
                       f"stored checksum {obj.checksum} does not match the bytes "
                       f"(SHA-256 {obj.sha256})")
        top = rel.split("/", 1)[0]
        if top == STATE_DIR or (top == DEVICE_DIR and rel != DEVICE_INFO) or (
                top in (SESSIONS_DIR, RECOVERED_DIR) and rel not in covered) or (
                top == LEDGER_DIR and not is_ledger_name(rel[len(LEDGER_DIR) + 1:])):
            report.add("uncovered_object", rel, "no record covers it")
        if obj.lock_mode is None:
            report.notes.append(f"{rel}: no Object Lock retention on the object (the bucket's "
                                "default retention applies, if it has one)")
        if obj.legal_hold:
            report.notes.append(f"{rel}: under legal hold")
    for rel in fetched.joined:
        report.notes.append(f"{rel}: still open on the unit; joined from its tail ranges "
                            f"({TAIL_DIR}/)")


def verify_bucket(client: Any, url: str, *, trusted_key: PublicKey | None = None,
                  checkpoints: list[dict | str] = (), workdir: str | None = None
                  ) -> list[BucketReport]:
    """Verify every device root under ``url`` (``s3://BUCKET/PREFIX``; PREFIX may be a device
    root, a prefix holding device roots, or ``<root>/sessions/<id>``). Raises
    NotEvidenceError when there is no evidence there, ValueError for a bad URL."""
    bucket, prefix = parse_s3_url(url)
    roots, session = find_roots(client, bucket, prefix)
    if not roots:
        raise NotEvidenceError(f"{url}: no dualrec evidence (no {DEVICE_INFO} under it)")
    reports = []
    for root in roots:
        with tempfile.TemporaryDirectory(prefix="dualrec-s3-", dir=workdir) as tmp:
            fetched = fetch_root(client, bucket, root, Path(tmp), session)
            report = BucketReport(f"s3://{bucket}/{root}" + (f"/{SESSIONS_DIR}/{session}"
                                                             if session else ""), root,
                                  objects=len(fetched.objects), bytes=fetched.bytes)
            target = Path(tmp) / SESSIONS_DIR / session if session else Path(tmp)
            if session and not target.is_dir():
                raise NotEvidenceError(f"{url}: no objects of session {session}")
            report.verify = verify_path(target, trusted_key=trusted_key,
                                        checkpoints=checkpoints)
            report.verify.path = report.url
            _check_objects(fetched, report)
            reports.append(report)
    return reports

"""AsyncAPI's own JSON Schema of a 3.0.0 document, from the npm package ``@asyncapi/specs``
(Apache-2.0), pinned by SHA-256, fetched over HTTPS from the npm registry into the test assets
directory (``$DUALREC_TEST_ASSETS``, else ``<virtualenv>/share/dualrec-test-assets``) once,
as the set-up fetches the voice's files. Not collected by pytest (no ``test_`` prefix).
"""
from __future__ import annotations

import json
import os
import sys
import tarfile
from pathlib import Path

from provisioning.models.download import https_download

VERSION = "6.8.1"
URL = f"https://registry.npmjs.org/@asyncapi/specs/-/specs-{VERSION}.tgz"
SHA256 = "252bfd18c12f60f654ab4def022e3ec9f9589e6dfd65c238204f77c07a1f6b46"
MEMBER = "package/schemas/3.0.0-without-$id.json"
MAX_BYTES = 8 * 1024 * 1024


def assets_dir() -> Path:
    configured = os.environ.get("DUALREC_TEST_ASSETS")
    return Path(configured) if configured else Path(sys.prefix) / "share" / "dualrec-test-assets"


def asyncapi_3_schema() -> dict:
    """The meta-schema (draft 7) every AsyncAPI 3.0.0 document must satisfy."""
    tarball = https_download(URL, SHA256, assets_dir() / "asyncapi", max_bytes=MAX_BYTES)
    with tarfile.open(tarball, "r:gz") as archive:
        member = archive.getmember(MEMBER)
        if not member.isfile() or member.size > MAX_BYTES:
            raise ValueError(f"{tarball}: {MEMBER} is not a file of a sane size")
        return json.loads(archive.extractfile(member).read())

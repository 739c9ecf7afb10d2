"""The S3 client of one uploader: endpoint, credentials, timeouts and the client's retries."""
from __future__ import annotations

from typing import Any

from firmware.unit.sync.settings import SyncSettings


def make_client(settings: SyncSettings) -> Any:
    """A boto3 S3 client for ``settings``; thread-safe, one connection per worker.

    Credentials: the settings' keys when given, else boto3's standard chain (``AWS_ACCESS_KEY_ID``
    / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``, ``AWS_SHARED_CREDENTIALS_FILE``, …).
    Retries: the client's standard mode (5xx, throttling, connection errors) up to
    ``max_attempts`` per request; what still fails goes back to the backlog.
    """
    import boto3  # imported here: importing firmware.unit.sync must cost nothing
    from botocore.config import Config

    config = Config(
        connect_timeout=settings.connect_timeout_s,
        read_timeout=settings.read_timeout_s,
        retries={"mode": "standard", "total_max_attempts": settings.max_attempts},
        max_pool_connections=max(10, settings.workers * 2),
        s3={"addressing_style": settings.addressing_style},
        # the unit sends its own SHA-256 on every PUT; no second checksum is computed
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    kwargs: dict[str, Any] = {"config": config}
    if settings.endpoint:
        kwargs["endpoint_url"] = settings.endpoint
    if settings.region:
        kwargs["region_name"] = settings.region
    if settings.ca_bundle:
        kwargs["verify"] = settings.ca_bundle
    if settings.access_key:
        kwargs.update(aws_access_key_id=settings.access_key,
                      aws_secret_access_key=settings.secret_key,
                      aws_session_token=settings.session_token or None)
    session = boto3.session.Session()
    if not settings.region and session.region_name is None:
        kwargs["region_name"] = "us-east-1"
    return session.client("s3", **kwargs)

"""Evidence sync: sealed spool files to S3-compatible object storage, exactly once, verified,
locked for the retention period; local space freed only after the cloud copy is confirmed.

Modules (one idea each; nothing is imported here, so importing the package costs nothing):

- :mod:`firmware.sync.settings`   what the uploader is told (endpoint, bucket, limits, policy)
- :mod:`firmware.sync.layout`     object keys: ``<prefix>/<device_id>/<spool-relative path>``
- :mod:`firmware.sync.retention`  Object Lock retain-until, local retention, low-disk signal
- :mod:`firmware.sync.throttle`   the bandwidth cap (token bucket) and the media time window
- :mod:`firmware.sync.state`      upload progress in ``SPOOL/state/`` (SQLite; not evidence)
- :mod:`firmware.sync.plan`       what in the spool is sealed and due, in upload order
- :mod:`firmware.sync.transfer`   one object: PUT or resumable multipart, 412 and HEAD checks
- :mod:`firmware.sync.errors`     the errors of sync (each also a built-in)
- :mod:`firmware.sync.s3client`   the boto3 client for an endpoint
- :mod:`firmware.sync.tails`      the open ledger file as tail ranges, and joining them back
- :mod:`firmware.sync.uploader`   :class:`~firmware.sync.uploader.Uploader`, for the daemon
- :mod:`firmware.sync.report`     a run's result, the backlog, progress
- :mod:`firmware.sync.pruning`    deleting confirmed files locally through Evidence
- :mod:`firmware.sync.legal_hold` legal hold on a session's objects
- :mod:`firmware.sync.bucket_fetch`, :mod:`firmware.sync.bucket_verify`  verify from the bucket

docs/sync.md describes the object layout and what the bucket owner sets up.
"""

"""The unit's evidence sync: sealed spool files to S3-compatible object storage, exactly once,
verified, locked for the retention period; local space freed only after the cloud copy is
confirmed. The object layout and what S3's answers mean are shared
(:mod:`firmware.protocol.bucket`); verifying, fetching and holding from the bucket is the
office's (:mod:`firmware.office.bucket`).

Modules (one idea each; nothing is imported here, so importing the package costs nothing):

- :mod:`~firmware.unit.sync.settings`   what the uploader is told (endpoint, bucket, limits)
- :mod:`~firmware.unit.sync.retention`  Object Lock retain-until, local retention, low disk
- :mod:`~firmware.unit.sync.throttle`   the bandwidth cap (token bucket) and the media window
- :mod:`~firmware.unit.sync.state`      upload progress in ``SPOOL/state/`` (not evidence)
- :mod:`~firmware.unit.sync.plan`       what in the spool is sealed and due, in upload order
- :mod:`~firmware.unit.sync.transfer`   one object: PUT or resumable multipart, 412 and HEAD
- :mod:`~firmware.unit.sync.s3client`   the boto3 client for an endpoint
- :mod:`~firmware.unit.sync.uploader`   :class:`~firmware.unit.sync.uploader.Uploader`
- :mod:`~firmware.unit.sync.report`     a run's result, the backlog, progress
- :mod:`~firmware.unit.sync.pruning`    deleting confirmed files locally through Evidence

docs/sync.md describes the object layout and what the bucket owner sets up.
"""

"""The evidence bucket: object keys under ``<prefix>/<device>/``, the open ledger's tail ranges,
checksums, and what S3's errors mean (docs/sync.md). Used by the unit's uploader and the
office's bucket verification."""

"""The insurer's side of the evidence bucket: verify a unit's evidence straight from the
bucket, fetch it back into a spool, check the cloud copies of pruned files, legal hold."""

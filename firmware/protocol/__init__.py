"""What the unit and the office agree on over the wire: MQTT topics and payloads
(:mod:`~firmware.protocol.mqtt`), the bucket's object layout (:mod:`~firmware.protocol.bucket`),
and signed documents from the back office (:mod:`~firmware.protocol.signed_document`)."""

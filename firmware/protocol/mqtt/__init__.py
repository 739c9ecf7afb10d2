"""The fleet's MQTT protocol: topics, payloads, the broker address, the TLS client, the privacy
rule every payload obeys (docs/mqtt.md). Used by the unit's agent and the operators' tools."""

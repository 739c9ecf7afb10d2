"""What runs on the Raspberry Pi: the composition root (:mod:`~firmware.unit.appliance`), the
daemon, the recorder, the 双录 session, speech and vision understanding, the customer's screen,
the hardware check, and the unit's side of the fleet (MQTT agent) and of sync (uploader).
Nothing here imports :mod:`firmware.office`; import-linter contracts in the tests keep it so."""

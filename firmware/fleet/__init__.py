"""Fleet operations over MQTT: the unit's agent (:class:`FleetAgent`), the interface it needs
from the appliance (:class:`DeviceHooks`), and the operators' side used by ``dualrec-fleet``.

docs/mqtt.md describes the topics and payloads. Importing this package does no work.
"""
from firmware.fleet.agent import FleetAgent
from firmware.fleet.errors import (CommandError, FleetError, FleetSettingsError,
                                   OutboxCorruptError, PersonalDataError)
from firmware.fleet.hooks import DeviceHooks, DeviceStatus, TelemetrySnapshot
from firmware.fleet.settings import AgentSettings, broker_url, parse_broker_url

__all__ = ["FleetAgent", "AgentSettings", "DeviceHooks", "DeviceStatus", "TelemetrySnapshot",
           "FleetError", "FleetSettingsError", "PersonalDataError", "OutboxCorruptError",
           "CommandError", "broker_url", "parse_broker_url"]

"""The unit's side of fleet operations over MQTT: the agent (:class:`FleetAgent`) and the
interface it needs from the appliance (:class:`DeviceHooks`); the operators' side is
:mod:`firmware.office.fleet`, the wire format :mod:`firmware.protocol.mqtt`.

docs/mqtt.md describes the topics and payloads. Importing this package does no work.
"""
from firmware.unit.fleet.agent import FleetAgent
from firmware.protocol.mqtt.errors import (CommandError, FleetError, FleetSettingsError,
                                   OutboxCorruptError, PersonalDataError)
from firmware.protocol.mqtt.broker import broker_url, parse_broker_url
from firmware.protocol.mqtt.status import DeviceStatus, TelemetrySnapshot
from firmware.unit.fleet.hooks import DeviceHooks
from firmware.unit.fleet.settings import AgentSettings

__all__ = ["FleetAgent", "AgentSettings", "DeviceHooks", "DeviceStatus", "TelemetrySnapshot",
           "FleetError", "FleetSettingsError", "PersonalDataError", "OutboxCorruptError",
           "CommandError", "broker_url", "parse_broker_url"]

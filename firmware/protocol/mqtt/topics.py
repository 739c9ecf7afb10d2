"""The versioned MQTT topic layout (docs/mqtt.md). Every topic starts ``dualrec/v1/``.

A unit publishes only under ``dualrec/v1/devices/<its id>/`` and reads only its own ``cmd`` and
``config/desired``; the broker's ACL (config/mosquitto/acl) enforces the same layout.
"""
from __future__ import annotations

import re

PREFIX = "dualrec/v1"
DEVICES = f"{PREFIX}/devices"
DEVICE_ID = re.compile(r"[a-z0-9][a-z0-9-]{2,62}")
BRANCH = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
RESPONSE_SUFFIX = re.compile(r"[A-Za-z0-9._-]{1,64}")

STATE = "state"                  # retained: online / idle / recording / fault / offline (will)
TELEMETRY = "telemetry"          # retained: the latest telemetry
EVENTS = "events"                # stream (QoS 1): sessions, faults, self-tests
CHECKPOINT = "checkpoint"        # retained: the latest published chain checkpoint
CHECKPOINTS = "checkpoints"      # stream (QoS 1): every checkpoint, for witnesses
CMD = "cmd"                      # operators -> unit: commands (MQTT v5 request/response)
RESPONSES = "res"                # unit -> operators: responses, under res/<suffix>
CONFIG_DESIRED = "config/desired"    # retained, written by operators
CONFIG_REPORTED = "config/reported"  # retained, written by the unit


def check_device_id(device_id: str) -> str:
    """``device_id`` if it is a valid unit id (lowercase letters, digits, '-'); else ValueError."""
    if not isinstance(device_id, str) or not DEVICE_ID.fullmatch(device_id):
        raise ValueError(f"device id {device_id!r} is not 3-63 lowercase letters, digits or '-'")
    return device_id


def device_topic(device_id: str, leaf: str) -> str:
    return f"{DEVICES}/{device_id}/{leaf}"


def all_devices(leaf: str) -> str:
    """The wildcard an operator subscribes to for ``leaf`` of every unit."""
    return f"{DEVICES}/+/{leaf}"


def response_topic(device_id: str, suffix: str) -> str:
    """Where ``device_id`` answers a request tagged ``suffix`` (chosen by the operator)."""
    if not RESPONSE_SUFFIX.fullmatch(suffix):
        raise ValueError(f"response suffix {suffix!r} must be 1-64 of A-Z a-z 0-9 . _ -")
    return f"{DEVICES}/{device_id}/{RESPONSES}/{suffix}"


def default_response_topic(device_id: str) -> str:
    """Where a unit answers a request that named no (usable) response topic."""
    return f"{DEVICES}/{device_id}/{RESPONSES}"


def is_own_response_topic(device_id: str, topic: str) -> bool:
    """Whether ``topic`` is one a unit may answer on: ``.../<device_id>/res/<suffix>``."""
    head = f"{DEVICES}/{device_id}/{RESPONSES}/"
    return topic.startswith(head) and bool(RESPONSE_SUFFIX.fullmatch(topic[len(head):]))


def split_device_topic(topic: str) -> tuple[str, str] | None:
    """``(device_id, leaf)`` of a topic under ``dualrec/v1/devices/``; None for anything else."""
    head = DEVICES + "/"
    if not topic.startswith(head):
        return None
    device_id, sep, leaf = topic[len(head):].partition("/")
    if not sep or not DEVICE_ID.fullmatch(device_id):
        return None
    return device_id, leaf


def operator_topic(username: str, leaf: str) -> str:
    """A topic private to one operator connection (the end-of-retained marker)."""
    return f"{PREFIX}/operators/{username}/{leaf}"

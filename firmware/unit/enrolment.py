"""The unit's enrolment at start: is its evidence certificate the fleet CA's, for this key?"""
from __future__ import annotations

import logging
from pathlib import Path

from drivers.clock import Clock
from firmware.config.model import Config
from firmware.errors import ConfigError
from firmware.evidence.certs import (EVIDENCE, CertificateError, CertificateExpiredError,
                                     check_device_certificate, load_fleet_ca)
from firmware.evidence.keys import DeviceKey

log = logging.getLogger(__name__)


def read_optional(path: str) -> str | None:
    """A small text file named in the configuration, or None when none is named."""
    return Path(path).read_text() if path else None


def check_enrolment(config: Config, key: DeviceKey, clock: Clock) -> None:
    """With ``[device] fleet_ca`` set, the configured certificate must be this unit's evidence
    certificate from the fleet CA: refuse to start otherwise (ConfigError). An expired one, or
    one for an earlier evidence key, is logged and recording goes on. Dates are not checked
    while the clock is unsynchronised (no RTC on a Pi)."""
    d = config.device
    if not d.fleet_ca:
        return
    pem = read_optional(d.certificate)
    if not pem or not d.id:
        raise ConfigError("[device] fleet_ca is set, so [device] id and certificate must be "
                          "too: enrol the unit (dualrec-provision device enroll)")
    try:
        got = check_device_certificate(pem, load_fleet_ca(d.fleet_ca), device_id=d.id,
                                       purpose=EVIDENCE, check_dates=clock.sync_state().synced)
    except CertificateExpiredError as exc:
        log.error("device certificate %s: %s; recording goes on: re-enrol the unit",
                  d.certificate, exc)
        return
    except CertificateError as exc:
        raise ConfigError(f"[device] certificate {d.certificate}: {exc}") from None
    if got.evidence_key != key.public:
        log.warning("device certificate %s certifies an earlier evidence key; re-issue it "
                    "(dualrec-provision device rotate-key --ca, or device enroll)",
                    d.certificate)

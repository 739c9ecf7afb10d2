"""Provisioning: device identity, certificates, enrolment, staff roster, Raspberry Pi install."""

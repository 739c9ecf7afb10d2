"""People and policy: the salesperson, the customers by role, the application number, and the
back office's signed staff roster.

The badge reader (OpenCV) is in :mod:`firmware.people.badge_reader`, imported only by those
who read badges. docs/people.md describes every field rule and file format.
"""
from firmware.people.customers import GUARDIAN, INSURED, POLICYHOLDER, ROLES, Customer
from firmware.people.errors import (BadgeError, FieldError, PeopleError, RoleError,
                                    RosterError, RosterExpiredError, RosterFormatError,
                                    RosterRollbackError, RosterSignatureError, StaffNotOnRoster,
                                    StaffNotValid, StaffRefused)
from firmware.people.people import (ELDER_AGE, People, check_application_number,
                                    needs_elder_variant)
from firmware.people.roster import Roster, StaffEntry
from firmware.people.salesperson import (BankEmployee, InsurerAgent, IntermediaryEmployee,
                                         Salesperson, salesperson_from_dict)
from firmware.people.signed_roster import (install_roster, load_roster, parse_signed_roster,
                                           sign_roster, verify_signed_roster)

__all__ = ["BadgeError", "BankEmployee", "Customer", "ELDER_AGE", "FieldError", "GUARDIAN",
           "INSURED", "InsurerAgent", "IntermediaryEmployee", "POLICYHOLDER", "People",
           "PeopleError", "ROLES", "RoleError", "Roster", "RosterError", "RosterExpiredError",
           "RosterFormatError", "RosterRollbackError", "RosterSignatureError", "Salesperson",
           "StaffEntry", "StaffNotOnRoster", "StaffNotValid", "StaffRefused",
           "check_application_number", "install_roster", "load_roster", "needs_elder_variant",
           "parse_signed_roster", "salesperson_from_dict", "sign_roster",
           "verify_signed_roster"]

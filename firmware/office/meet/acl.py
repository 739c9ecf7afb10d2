"""The mosquitto ACL blocks of the meeting's office roles (config/mosquitto/acl has one of
each; a test keeps them equal): a relay (``meet.<name>``) and the back office's SMS sender."""
from __future__ import annotations

import re

RELAY_LINES = ("topic read dualrec/v1/meet/+/+/state",
               "topic read dualrec/v1/meet/+/+/answer",
               "topic read dualrec/v1/meet/+/+/to-party/+",
               "topic write dualrec/v1/meet/+/+/join",
               "topic write dualrec/v1/meet/+/+/to-unit")
SMS_LINES = ("topic read dualrec/v1/meet/+/+/notice",)
_CN = re.compile(r"[a-z0-9][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)+")


def acl_block(cn: str, lines: tuple[str, ...]) -> str:
    """``user CN`` and ``lines``: one certificate's grants (the CN contains a ".", so no unit
    id can ever be it)."""
    if not _CN.fullmatch(cn) or len(cn) > 64:
        raise ValueError(f"certificate CN {cn!r}: lowercase words joined by '.', e.g. "
                         "meet.relay-a")
    return "\n".join((f"user {cn}", *lines)) + "\n"

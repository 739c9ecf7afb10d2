"""Time-limited TURN credentials for an existing coturn (``use-auth-secret``, the "TURN REST
API" of draft-uberti-behave-turn-rest): the username is ``"<expiry>:<user>"`` (expiry in Unix
seconds) and the password is base64(HMAC-SHA1(static-auth-secret, username)). coturn
recomputes the password from the username and refuses it after the expiry, so the relay keeps
nothing and any relay can hand them out.

The ICE servers a browser (or the unit) gets are exactly the configured ones: STUN URLs as
they are, TURN URLs with fresh credentials; nothing else is ever named.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re

from firmware.protocol.mqtt.meet import IceServer

_USER = re.compile(r"[A-Za-z0-9_-]{1,64}")


def turn_credentials(secret: bytes, user: str, now: float, seconds: int) -> tuple[str, str]:
    """``(username, password)`` valid until ``now + seconds`` (Unix time) for ``user``."""
    if not secret:
        raise ValueError("no TURN secret configured ([ice] turn_secret_file)")
    if not _USER.fullmatch(user):
        raise ValueError(f"TURN user {user!r}: 1-64 of A-Z a-z 0-9 _ -")
    username = f"{int(now) + int(seconds)}:{user}"
    digest = hmac.new(secret, username.encode("ascii"), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def ice_servers(urls: tuple[str, ...], secret: bytes, user: str, now: float,
                seconds: int) -> tuple[IceServer, ...]:
    """The configured ``urls`` as ICE servers: one entry of the STUN URLs, one of the TURN
    URLs with credentials for ``user`` (none when no URL of the kind is configured)."""
    stun = tuple(u for u in urls if u.startswith("stun"))
    turn = tuple(u for u in urls if u.startswith("turn"))
    out = []
    if stun:
        out.append(IceServer(stun[:4]))
    if turn:
        username, password = turn_credentials(secret, user, now, seconds)
        out.append(IceServer(turn[:4], username, password))
    return tuple(out)

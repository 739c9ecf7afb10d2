"""The meeting host's settings (``[meet]`` of the unit's configuration) and the rule "no ICE
server is contacted that the configuration doesn't name"."""
from __future__ import annotations

from dataclasses import dataclass

from firmware.protocol.mqtt.meet import ICE_URL, IceServer
from firmware.unit.meet.errors import MeetingError


@dataclass(frozen=True)
class MeetingSettings:
    """``code_minutes``: how long the code admits new parties; ``max_wrong_tries``: wrong codes
    and identities that lock the meeting; ``max_meeting_minutes``: how long the broker keeps
    the meeting's retained state if the unit never ends it; ``ice_servers``: the STUN/TURN
    URLs the unit may use (exactly as the relay names them; none: host candidates only)."""

    enabled: bool = False
    code_minutes: int = 30
    max_wrong_tries: int = 5
    max_meeting_minutes: int = 240
    ice_servers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for url in self.ice_servers:
            if not ICE_URL.fullmatch(url):
                raise MeetingError(f"[meet] ice_servers: {url!r} is not a stun:, turn: or "
                                   "turns: URL")
        if not 1 <= self.code_minutes <= self.max_meeting_minutes:
            raise MeetingError("[meet] code_minutes must be between 1 and max_meeting_minutes")
        if self.max_wrong_tries < 1:
            raise MeetingError("[meet] max_wrong_tries must be at least 1")

    @classmethod
    def from_config(cls, section: object) -> "MeetingSettings":
        """From the configuration's ``[meet]`` section (:class:`firmware.config.model
        .MeetSection`)."""
        urls = tuple(u.strip() for u in str(getattr(section, "ice_servers")).split(",")
                     if u.strip())
        return cls(enabled=bool(getattr(section, "enabled")),
                   code_minutes=int(getattr(section, "code_minutes")),
                   max_wrong_tries=int(getattr(section, "max_wrong_tries")),
                   max_meeting_minutes=int(getattr(section, "max_meeting_minutes")),
                   ice_servers=urls)

    def allowed_ice(self, offered: tuple[IceServer, ...]) -> tuple[IceServer, ...]:
        """The ICE servers the unit may use: each configured URL once, with the credentials
        the relay offered for it; TURN URLs without credentials are left out (they cannot
        allocate), offered URLs the configuration does not name are dropped."""
        creds: dict[str, IceServer] = {}
        for server in offered:
            for url in server.urls:
                if url in self.ice_servers and server.username:
                    creds.setdefault(url, server)
        out = []
        for url in self.ice_servers:
            if url in creds:
                out.append(IceServer((url,), creds[url].username, creds[url].credential))
            elif not url.startswith("turn"):
                out.append(IceServer((url,)))
        return tuple(out)

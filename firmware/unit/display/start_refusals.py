"""Why RECORD was refused, on the customer's screen between sessions.

The session flow refuses RECORD with an EVENT ``record_refused`` on the chain (``reason``: the
ticket's ``ticket_expired``, ``ticket_reused``, ``ticket_wrong_unit``, ``ticket_forged``, ...;
``no_ticket``, ``selftest``, ``storage``, ``evidence_damaged``, ``no_script``). The screen learns
of it from the chain itself: :meth:`StartRefusals.on_record` is a record listener (it sees every
record once it is durable, on the appending thread) and keeps the last refusal; the screen part
asks :meth:`StartRefusals.current` on the flow's thread and shows its words for
:data:`SHOW_SECONDS` on the unit's monotonic clock, or until the next RECORD press or session.

The words come from here, never from the record's ``detail`` (English, for technicians, and it
may name the sale): a ticket's reason in the words of :data:`firmware.ticket.errors.DISPLAY`,
the self-test's failed checks by their Chinese names only.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

from drivers.clock.base import Clock
from firmware.evidence.records import EVENT, SESSION_START, Record
from firmware.ticket.errors import DISPLAY as TICKET_WORDS

SHOW_SECONDS = 30.0
"""How long a refusal of RECORD stays on the idle screen (unit's monotonic clock)."""

START_WORDS: dict[str, str] = {
    **{f"ticket_{reason}": words for reason, words in TICKET_WORDS.items()},
    "no_ticket": "没有识别到双录二维码：请把销售系统生成的双录二维码对准摄像头，再按录制键。",
    "selftest": "设备自检未通过，无法开始录制：请检查{checks}后再按录制键，或联系运维。",
    "storage": "设备存储空间不足，无法开始录制：请等待已录内容上传完成，或联系运维。",
    "evidence_damaged": "设备记录到证据损坏，暂停录制：请联系运维处理。",
    "no_script": "设备上没有可用的双录话术模板：请联系运维。",
}
UNKNOWN_START_WORDS = "无法开始录制（原因代码 {code}）：请联系运维。"

CHECK_WORDS: dict[str, str] = {
    "camera": "摄像头", "microphone": "麦克风", "disk": "存储空间", "clock": "时钟同步",
    "voice": "语音", "vision": "图像识别", "recogniser": "语音识别",
}
_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")
MAX_CHECKS = 8


def start_words(code: str, failed: Any = ()) -> str:
    """The sentence the screen shows for a refusal of RECORD with reason ``code``;
    ``failed``: the self-test's failed check names (shown by their Chinese names)."""
    if code == "selftest":
        names = [CHECK_WORDS.get(c, c) for c in (failed if isinstance(failed, list) else [])
                 [:MAX_CHECKS] if isinstance(c, str) and _CODE.fullmatch(c)]
        return START_WORDS["selftest"].format(checks="、".join(names) or "摄像头和麦克风")
    if code in START_WORDS:
        return START_WORDS[code]
    return UNKNOWN_START_WORDS.format(code=code if _CODE.fullmatch(code) else "?")


@dataclass(frozen=True)
class StartRefusal:
    """One refusal of RECORD: its reason ``code``, its ``words`` and when the screen heard of
    it (``at_ns``, the unit's monotonic clock)."""

    code: str
    words: str
    at_ns: int


class StartRefusals:
    """The last refusal of RECORD, from the chain. ``on_record`` may be called on any thread;
    :meth:`current` on any other (both only take a lock)."""

    def __init__(self, clock: Clock, show_seconds: float = SHOW_SECONDS) -> None:
        self._clock = clock
        self._show_ns = int(show_seconds * 1e9)
        self._lock = threading.Lock()
        self._last: StartRefusal | None = None

    def on_record(self, record: Record) -> None:
        """A record listener: keeps a ``record_refused``; a RECORD press or a session's start
        clears it (what comes next is that press's own answer)."""
        if record.type == SESSION_START:
            self.clear()
            return
        if record.type != EVENT:
            return
        data = record.data
        kind = data.get("kind")
        if kind == "press" and data.get("button") == "RECORD" and data.get("gesture") == "press":
            self.clear()
        elif kind == "record_refused":
            code = data.get("reason")
            code = code if isinstance(code, str) and _CODE.fullmatch(code) else "unknown"
            refusal = StartRefusal(code, start_words(code, data.get("failed")),
                                   self._clock.monotonic_ns())
            with self._lock:
                self._last = refusal

    def clear(self) -> None:
        with self._lock:
            self._last = None

    def current(self, now_ns: int) -> StartRefusal | None:
        """The refusal to show at ``now_ns`` (None once :data:`SHOW_SECONDS` have passed)."""
        with self._lock:
            last = self._last
            if last is not None and now_ns - last.at_ns >= self._show_ns:
                last = self._last = None
            return last

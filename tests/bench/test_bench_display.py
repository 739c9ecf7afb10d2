"""What the customer's screen adds to the daemon's memory.

Baseline: a fresh Python that imports what the daemon imports (``firmware.unit.daemon``,
``firmware.unit.appliance``), with the unit's ``MALLOC_ARENA_MAX=2``. Figure: the same, plus the
display server started, one screen on the update stream, every page of the sample documents
rendered at 800 px and at 1440 px (Touch Display 2 at its pixel width), then the heap trimmed as
the idle daemon does. The difference is what `[display] enabled = true` costs the daemon.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CHILD = r"""
import ctypes, http.client, sys
def rss_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
import firmware.unit.daemon, firmware.unit.appliance
if sys.argv[1] == "display":
    from firmware.unit.display.documents import DocumentLibrary
    from firmware.unit.display.reading import ReadingTracker
    from firmware.unit.display.server import DisplayServer
    from firmware.unit.display.view import DisplayView, NodeView
    library = DocumentLibrary("config/documents")
    server = DisplayServer("127.0.0.1:0", library, lambda event: None)
    server.start()
    docs = [library.open(sha) for sha in library.entries]
    server.publish(DisplayView(state="recording", node=NodeView(1, 2, "阅读"),
                               reading=ReadingTracker(docs, server.clock).view()))
    port = int(server.url.rsplit(":", 1)[1].strip("/"))
    stream = http.client.HTTPConnection("127.0.0.1", port)
    stream.request("GET", "/api/events")
    stream.getresponse().fp.readline()
    for doc in docs:
        for page in range(1, doc.pages + 1):
            for width in (800, 1440):
                conn = http.client.HTTPConnection("127.0.0.1", port)
                conn.request("GET", f"/api/documents/{doc.sha256}/{page}.png?w={width}")
                assert conn.getresponse().read()
                conn.close()
ctypes.CDLL("libc.so.6").malloc_trim(0)
print(rss_kib())
"""


def _rss_kib(mode: str) -> int:
    env = {**os.environ, "MALLOC_ARENA_MAX": "2"}
    out = subprocess.run([sys.executable, "-c", CHILD, mode], cwd=REPO, env=env, check=True,
                         capture_output=True, text=True, timeout=300)
    return int(out.stdout.split()[-1])


def test_display_server_rss(record_result):
    base = min(_rss_kib("base") for _ in range(2))
    with_display = min(_rss_kib("display") for _ in range(2))
    record_result("display_server_rss", baseline_mib=round(base / 1024, 1),
                  with_display_mib=round(with_display / 1024, 1),
                  added_mib=round((with_display - base) / 1024, 1),
                  ratio=round(with_display / base, 3))

"""A process that writes evidence as fast as it can until it is killed (power-cut tests).

Prints ``SEALED <seq> <path> ...`` after each record that sealed files is durable, so the test
knows what must survive. Usage: evidence_writer.py SPOOL KEYFILE SEED
"""
from __future__ import annotations

import os
import random
import sys

from drivers.clock import SystemClock
from firmware.evidence.store import Evidence
from firmware.evidence.keys import DeviceKey


def main() -> None:
    spool, keyfile, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rnd = random.Random(seed)
    ev = Evidence.open(spool, DeviceKey.load(keyfile), SystemClock(), checkpoint_every=7)
    print("READY", flush=True)
    while True:
        sid = ev.start_session({"seed": seed})
        for i in range(rnd.randint(3, 12)):
            video = ev.new_file(sid, f"video-{i:06d}.h264")
            audio = ev.new_file(sid, f"audio-{i:06d}.pcm")
            for _frame in range(rnd.randint(5, 30)):
                video.write(os.urandom(rnd.randint(500, 20_000)))
                audio.write(os.urandom(1600))
                video.flush()
                audio.flush()
            rec = ev.seal(sid, [video, audio], {"stream": "av", "index": i})
            print("SEALED", rec.seq, *(f.path for f in rec.files), flush=True)
            if rnd.random() < 0.3:
                rec = ev.event("press", {"button": "NEXT"}, session_id=sid)
                print("SEALED", rec.seq, flush=True)
        rec = ev.end_session(sid)
        print("SEALED", rec.seq, flush=True)


if __name__ == "__main__":
    main()

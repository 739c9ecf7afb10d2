"""Run as a program by test_picture_race.py (a regression would hang or crash the process, so
it runs apart from pytest): one thread encodes a remote frame for the recording while another
converts the same frame to a BGR picture, as the media thread and the session do."""
from __future__ import annotations

import sys
import threading

import av
import numpy as np
from skimage import data

from firmware.unit.remote.picture_view import PictureView
from firmware.unit.remote.video_encoder import RemoteVideoEncoder


def main(rounds: int) -> int:
    bgr = np.ascontiguousarray(data.astronaut()[:, :, ::-1])          # 512x512
    frame = av.VideoFrame.from_ndarray(bgr, format="bgr24").reformat(format="yuv420p")
    pictures: list[tuple[int, ...]] = []
    packets: list[int] = []

    def record() -> None:
        encoder = RemoteVideoEncoder(480, 480, 30, 600_000)   # a real scale, 512 -> 480
        for index in range(rounds):
            packets.extend(len(p[0]) for p in encoder.encode(frame, index))

    def look() -> None:
        view = PictureView()
        for _ in range(rounds * 3):
            pictures.append(view.bgr(frame).shape)

    threads = [threading.Thread(target=record), threading.Thread(target=look)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(pictures) == {(512, 512, 3)} and len(pictures) == rounds * 3
    assert len(packets) == rounds and min(packets) > 0
    print(f"ok {rounds} frames encoded, {len(pictures)} pictures")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))

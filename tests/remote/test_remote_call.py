"""A remote party's call on loopback: aiortc on both sides, the unit on simulated hardware with
a real Evidence store. The party's picture and sound are sealed as their own streams, the
chain verifies, a drop and a rejoin is a GAP with its exact range, closing mid-call leaves
nothing unsealed, and the counter's own recording loses nothing."""
from __future__ import annotations

import wave

import av
import cv2
import numpy as np

from firmware.evidence.verify import verify_path
from firmware.unit.remote import RemoteOptions

from .remote_rig import TONE_HZ, WAIT


def pts_lines(path) -> list[tuple[int, int, int]]:
    return [tuple(map(int, line.split())) for line in path.read_text().splitlines()]


def frame_lines(path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines() if line.startswith("F ")]


def decoded(path) -> list[np.ndarray]:
    with av.open(str(path), format="h264") as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


def faces(bgr: np.ndarray) -> int:
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    return len(cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5))


def dominant_hz(pcm: np.ndarray, rate: int = 48_000) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(len(pcm))))
    return float(np.fft.rfftfreq(len(pcm), 1 / rate)[int(np.argmax(spectrum))])


def wav_samples(path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (48_000, 1, 2)
        return np.frombuffer(w.readframes(w.getnframes()), "<i2")


def remote_segments(unit, stream, party="p1"):
    return sorted(unit.watch.of("SEGMENT", stream=stream, party=party), key=lambda r: r.seq)


def test_a_call_is_recorded_as_the_partys_own_streams_and_verifies(unit):
    remote, browser = unit.call()
    blocks = []
    remote.listen(blocks.append)
    answer = browser.join()
    # only host candidates: no ICE server was configured, so none was asked
    candidates = [ln for ln in answer["sdp"].splitlines() if ln.startswith("a=candidate")]
    assert candidates and all(" typ host" in ln for ln in candidates)
    assert remote.wait_connected(WAIT)
    unit.watch.wait_count(3, "SEGMENT", stream="remote_video")
    unit.watch.wait_count(3, "SEGMENT", stream="remote_audio")
    browser.wait_received(video=15, audio=50)
    picture = remote.latest_frame()
    stats = unit.finish()

    assert not unit.faults and remote.fault is None
    report = verify_path(unit.evidence.spool.root)
    assert report.ok, report.findings
    assert not [p for p in unit.session_files() if p.name.endswith(".part")]

    joined = unit.watch.of("EVENT", kind="remote_joined")
    assert [(j.data["connection"], j.data["audio_codec"], j.data["video_codec"])
            for j in joined] == [(1, "audio/opus", "video/H264")]
    assert joined[0].data["local_candidate"] in ("host", "prflx", "srflx")   # no TURN here
    assert joined[0].data["remote_candidate"] in ("host", "prflx", "srflx")
    assert unit.watch.of("EVENT", kind="remote_left")[0].data["reason"] == "unit_closed"
    assert unit.watch.of("EVENT", kind="remote_stats")

    video = remote_segments(unit, "remote_video")
    sender_reports, rtp_stamps = 0, []
    for seg in video:
        pts = pts_lines(unit.path(seg, ".pts"))
        rtp = frame_lines(unit.path(seg, ".rtp"))
        assert pts[0][1] == 1, "each segment starts with a keyframe"
        assert len(pts) == len(rtp) == seg.data["frames"]
        assert [p[0] for p in pts] == [int(f[1]) for f in rtp], "same frames, same arrivals"
        assert [p[0] for p in pts] == sorted(p[0] for p in pts)
        assert (seg.data["width"], seg.data["height"]) == (480, 480)   # 512x512 fit in 640x480
        assert (seg.data["received_width"], seg.data["received_height"]) == (512, 512)
        rtp_stamps += [int(f[2]) for f in rtp]
        sender_reports += seg.data["sender_reports"]
        assert unit.path(seg, ".h264").stat().st_size == sum(p[2] for p in pts)
    assert sender_reports > 0
    steps = np.diff(rtp_stamps) % 2**32
    assert steps.min() > 0 and np.median(steps) == 3000, "the sender's 30 fps on the RTP clock"
    middle = decoded(unit.path(video[1], ".h264"))
    assert len(middle) == video[1].data["frames"]
    assert faces(middle[len(middle) // 2]) >= 1, "the astronaut's face is in the recording"

    audio = remote_segments(unit, "remote_audio")
    index = 0
    for seg in audio:
        assert seg.data["sample_index"] == index, "no hole in a clean call"
        samples = wav_samples(unit.path(seg, ".wav"))
        assert len(samples) == seg.data["frames"]
        index += len(samples)
    tone = wav_samples(unit.path(audio[1], ".wav"))
    assert abs(dominant_hz(tone) - TONE_HZ) < 5

    # what the session reads: the party's picture and sound
    assert picture is not None and picture[0].shape == (512, 512, 3) and faces(picture[0]) >= 1
    assert blocks and blocks[0].sample_index == 0
    heard = np.frombuffer(b"".join(b.pcm for b in blocks[50:150]), "<i2")
    assert abs(dominant_hz(heard) - TONE_HZ) < 5
    # the party saw the counter, at the analysis image's size
    assert browser.counter_size == (320, 240)

    # the counter's own recording lost nothing while the call ran
    assert stats.dropped_frames == 0 and stats.lost_audio_samples == 0 and stats.gaps == 0
    counter = sorted(unit.watch.of("SEGMENT", stream="video"), key=lambda r: r.seq)
    assert [r.data["first_frame_index"] for r in counter] == \
        [0] + [r.data["last_frame_index"] + 1 for r in counter[:-1]], "every frame slot kept"
    sound = sorted(unit.watch.of("SEGMENT", stream="audio"), key=lambda r: r.seq)
    assert [r.data["sample_index"] for r in sound] == \
        [0] + list(np.cumsum([r.data["frames"] for r in sound[:-1]])), "every sample kept"


def test_a_drop_and_a_rejoin_is_a_gap_with_its_range(unit):
    remote, browser = unit.call()
    browser.join()
    assert remote.wait_connected(WAIT)
    unit.watch.wait_count(2, "SEGMENT", stream="remote_video")
    unit.watch.wait_count(2, "SEGMENT", stream="remote_audio")

    browser.pause()     # nothing reaches the unit any more
    unit.watch.wait_count(2, "EVENT", kind="remote_media_lost")
    assert not remote.connected
    browser.drop_connection()
    browser.join()      # the same party comes back on a new connection
    gaps = unit.watch.wait_count(2, "GAP", kind="network_drop")
    assert remote.wait_connected(WAIT)
    unit.watch.wait(lambda w: any(s.data["connection"] == 2
                                  for s in remote_segments(unit, "remote_video")))
    unit.finish()

    assert not unit.faults
    assert verify_path(unit.evidence.spool.root).ok
    assert [j.data["connection"] for j in unit.watch.of("EVENT", kind="remote_joined")] == [1, 2]
    by_stream = {g.data["stream"]: g.data for g in gaps}
    assert {g["reason"] for g in by_stream.values()} == {"stalled"}
    assert all(g["party"] == "p1" and g["start_ns"] < g["end_ns"] for g in by_stream.values())

    # video: from the last frame before the drop to the first frame after it
    video = remote_segments(unit, "remote_video")
    before = [s for s in video if s.data["connection"] == 1]
    after = [s for s in video if s.data["connection"] == 2]
    assert before and after
    last = pts_lines(unit.path(before[-1], ".pts"))[-1][0]
    first = pts_lines(unit.path(after[0], ".pts"))[0][0]
    assert (by_stream["remote_video"]["start_ns"], by_stream["remote_video"]["end_ns"]) == \
        (last, first)

    # audio: from the end of the last sample to the first sample after, and the sample
    # index jumps by the time lost
    audio = remote_segments(unit, "remote_audio")
    a_before = [s for s in audio if s.data["connection"] == 1][-1].data
    a_after = [s for s in audio if s.data["connection"] == 2][0].data
    end_of_last = a_before["first_sample_ns"] + a_before["frames"] * 10**9 // 48_000
    assert by_stream["remote_audio"]["start_ns"] == end_of_last
    assert by_stream["remote_audio"]["end_ns"] == a_after["first_sample_ns"]
    lost = (a_after["first_sample_ns"] - end_of_last) * 48_000 // 10**9
    assert a_after["sample_index"] == a_before["sample_index"] + a_before["frames"] + lost
    assert [g[2] for g in remote.gaps()] == ["stalled", "stalled"]
    assert [c.connected for c in unit.changes] == [True, False, True, False]


def test_closing_mid_call_leaves_everything_sealed(unit):
    remote, browser = unit.call()
    browser.join()
    unit.watch.wait_count(1, "SEGMENT", stream="remote_video")
    unit.watch.wait_count(1, "SEGMENT", stream="remote_audio")
    remote.close()          # media still flowing
    remote.close()          # and again: nothing happens
    assert browser.wait_message("bye")["reason"]
    unit.finish()
    assert not unit.faults
    files = unit.session_files()
    assert not [p for p in files if p.name.endswith(".part")]
    assert verify_path(unit.evidence.spool.root / "sessions" / unit.session).ok
    left = unit.watch.of("EVENT", kind="remote_left")
    assert [e.data["reason"] for e in left] == ["unit_closed"]
    # the segments cut short by the close are sealed before the party's leaving is recorded
    for stream in ("remote_video", "remote_audio"):
        assert remote_segments(unit, stream)[-1].seq < left[0].seq
    assert not unit.watch.of("GAP"), "a call closed while it ran lost nothing"


def test_a_party_that_hangs_up_has_left_and_no_gap_follows(unit):
    remote, browser = unit.call()
    browser.join()
    unit.watch.wait_count(1, "SEGMENT", stream="remote_audio")
    browser.hang_up()
    unit.watch.wait_count(1, "EVENT", kind="remote_left")
    assert remote.status().left and remote.status().state == "left"
    assert not remote.connected
    unit.finish()
    assert [e.data["reason"] for e in unit.watch.of("EVENT", kind="remote_left")] == ["bye"]
    assert not unit.watch.of("GAP")
    assert verify_path(unit.evidence.spool.root).ok


def test_an_offer_with_two_video_tracks_is_refused(unit):
    remote, browser = unit.call()
    sdp = browser._loop.run(browser._offer(), WAIT)
    video = sdp[sdp.index("m=video"):]
    remote_end = browser.signalling
    remote_end.send({"type": "offer", "sdp": sdp + video.replace("a=mid:1", "a=mid:9")})
    refused = unit.watch.wait_count(1, "EVENT", kind="remote_refused")
    assert "m-line" in refused[0].data["reason"]
    remote_end.send({"type": "launch", "sdp": "x"})
    unit.watch.wait_count(2, "EVENT", kind="remote_refused")
    assert not any(m["type"] == "answer" for m in browser.messages)
    unit.finish()
    assert verify_path(unit.evidence.spool.root).ok


def test_the_rtc_configuration_names_only_configured_servers():
    from firmware.unit.remote import IceServer
    assert RemoteOptions().rtc_configuration().iceServers == []   # [] not None: no Google STUN
    turn = IceServer(("turn:turn.example.net:3478?transport=udp",), "u", "p")
    config = RemoteOptions(ice_servers=(turn,)).rtc_configuration()
    assert [s.urls for s in config.iceServers] == [["turn:turn.example.net:3478?transport=udp"]]

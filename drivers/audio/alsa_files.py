"""ALSA PCMs backed by files, so the real PyAudio backend runs without a sound card.

:func:`write_asoundrc` writes an ``.asoundrc`` into a (temporary) HOME defining:

* ``dualrec_capture``: ALSA's ``file`` plugin over the ``null`` PCM, capture reading raw
  S16_LE samples from ``infile``;
* ``dualrec_playback``: the same plugin, playback writing raw samples to ``outfile``;
* ``dualrec_null``: a bare ``null`` PCM;
* ``default``: capture from ``dualrec_capture``, playback to ``dualrec_playback``.

:func:`alsa_env` is the environment a process needs to see only that configuration. Run
PyAudio in a subprocess with it: alsa-lib reads and caches its configuration (HOME's
``.asoundrc`` included) the first time a process uses it, and PortAudio enumerates once.

How these PCMs behave (alsa-lib 1.2.8, PortAudio 19.6, found by experiment):

* No pacing. ``null`` consumes and produces instantly: ``arecord -d 1`` returns in ~5 ms and a
  PortAudio callback stream runs ~15,000 callbacks of 960 frames per second, spinning a core;
  a 3 s blocking write to ``null`` returns in under 1 ms. Timing tests cannot rely on it;
  sample counts and content can.
* Capture from ``null`` is not silence: mostly zeros with stale buffer bytes in between.
* Capture through ``file`` with ``infile`` returns the infile's samples exactly and in order
  from its first byte (the file is reopened at each ``snd_pcm_open``, so every stream starts
  at the beginning). At the end of the infile nothing signals EOF: reads keep succeeding and
  return stale ring-buffer contents (the tail of what was read before, repeating), not
  silence. Make the infile longer than any test reads.
* The ``file`` plugin also writes what is captured to its ``file``; ``/dev/null`` here. If
  that write fails (``file "/dev/full"``: ENOSPC) the PCM returns an error, PortAudio's
  callback thread ends after a few blocks and the stream turns inactive by itself, which is
  what an unplugged USB microphone looks like to PortAudio: ``capture_sink`` points the
  ``file`` at a path (e.g. a symlink a test flips between ``/dev/full`` and ``/dev/null``).
* Playback through ``file`` writes exactly the samples written by a blocking PortAudio stream,
  no padding; ``outfile`` is truncated each time a stream opens it (each clip), not at
  PortAudio's device enumeration.
* PortAudio lists these PCMs by their names, with 128 channels and 44100 Hz as default rate;
  any rate and channel count opens (``null`` accepts everything).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from drivers.errors import BadDriverArgument

CAPTURE_PCM = "dualrec_capture"
PLAYBACK_PCM = "dualrec_playback"
NULL_PCM = "dualrec_null"

_POINTING_ELSEWHERE = ("ALSA_CONFIG_PATH", "ALSA_CONFIG_DIR", "ALSA_CARD", "ALSA_PCM_CARD",
                       "ALSA_PCM_DEVICE", "ALSA_CTL_CARD", "ALSA_PLUGIN_DIR", "PULSE_SERVER",
                       "AUDIODEV")


@dataclass(frozen=True)
class AlsaFilePcms:
    """What :func:`write_asoundrc` set up."""

    home: Path
    asoundrc: Path
    infile: Path
    outfile: Path
    capture: str = CAPTURE_PCM
    playback: str = PLAYBACK_PCM
    null: str = NULL_PCM


def _quoted(path: Path) -> str:
    text = str(path)
    if any(ch in text for ch in '"\\\n'):
        raise BadDriverArgument(f"path {text!r}: quotes, backslashes and newlines cannot be "
                                "written into an ALSA configuration")
    return f'"{text}"'


def write_asoundrc(home: Path | str, *, infile: Path | str, outfile: Path | str,
                   capture_sink: Path | str = "/dev/null") -> AlsaFilePcms:
    """Write ``home/.asoundrc`` defining the PCMs of the module docstring; return them.

    ``infile`` holds raw S16_LE samples (no header) at the rate and channel count the capture
    stream will be opened with; ``outfile`` receives raw S16_LE samples of each clip played.
    """
    home = Path(home)
    paths = {name: Path(value).absolute() for name, value in
             (("infile", infile), ("outfile", outfile), ("capture_sink", capture_sink))}
    text = f"""# written by drivers.audio.alsa_files: file-backed PCMs for tests
pcm.{CAPTURE_PCM} {{
    type file
    slave.pcm "null"
    file {_quoted(paths["capture_sink"])}
    infile {_quoted(paths["infile"])}
    format "raw"
}}
pcm.{PLAYBACK_PCM} {{
    type file
    slave.pcm "null"
    file {_quoted(paths["outfile"])}
    format "raw"
}}
pcm.{NULL_PCM} {{
    type null
}}
pcm.!default {{
    type asym
    capture.pcm "{CAPTURE_PCM}"
    playback.pcm "{PLAYBACK_PCM}"
}}
"""
    asoundrc = home / ".asoundrc"
    home.mkdir(parents=True, exist_ok=True)
    asoundrc.write_text(text)
    return AlsaFilePcms(home, asoundrc, paths["infile"], paths["outfile"])


def alsa_env(home: Path | str, base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with ALSA looking only at ``home``.

    Sets HOME and XDG_CONFIG_HOME (alsa-lib also reads ``$XDG_CONFIG_HOME/alsa/asoundrc``),
    drops the variables that point ALSA, PulseAudio or SDL at another device, and tells JACK
    not to start a server when PortAudio probes for one.
    """
    env = dict(os.environ if base is None else base)
    for name in _POINTING_ELSEWHERE:
        env.pop(name, None)
    env["HOME"] = str(Path(home).absolute())
    env["XDG_CONFIG_HOME"] = str(Path(home).absolute() / ".config")
    env["JACK_NO_START_SERVER"] = "1"
    return env

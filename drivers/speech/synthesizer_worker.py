"""The Kokoro synthesis worker: the child process :class:`drivers.speech.synthesizer.Synthesizer`
starts as ``python -c '...main(sys.argv[1:])' --fd N --config JSON``, so that
onnxruntime, jieba and the model (~600 MB while synthesising) live and die outside the daemon,
and nothing of the daemon (its main module, its threads) is carried into the worker.

Protocol over one Unix socket (fd ``N``, inherited), framed and pickled by
:class:`multiprocessing.connection.Connection` (both ends are this code), each message a tuple
``(tag, payload)``:

* worker → parent, once, after loading: ``("ready", {"pid", "load_s", "maxrss_kb"})`` or
  ``("missing", message)`` (a file or a library the voice needs; the worker then exits) or
  ``("failed", message)``;
* parent → worker: ``("render", {"text", "speed", "out"})``: synthesise and write a 24 kHz
  mono 16-bit WAV to the path ``out`` (a temporary file the parent renames into place);
  ``("stop", None)``: exit now;
* worker → parent, per render: ``("done", {"seconds", "synth_s", "chunks", "dropped",
  "phonemes", "maxrss_kb"})``, ``("bad_text", message)`` or ``("failed", message)``.

The worker exits by itself (exit code :data:`IDLE_EXIT`) when no request came for ``idle_s``
seconds, and when the parent's end of the pipe closes. A request sent just as it gave up is
never half-done: the parent sees the pipe close and starts a new worker.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import time
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from drivers.errors import BadDriverArgument, DeviceMissingError
from drivers.speech.kokoro_assets import SAMPLE_RATE
from drivers.speech.prompt_files import write_wav

IDLE_EXIT = 0
MISSING_EXIT = 3
FAILED_EXIT = 4

# The libraries the voice needs, with the line that installs them (misaki without its [zh]
# extra, which pulls 108 MB the G2P does not use).
REQUIREMENTS = ("onnxruntime==1.32.0 misaki==0.9.4 jieba==0.42.1 pypinyin==0.55.0 "
                "cn2an==0.5.24 ordered-set==4.1.0")


@dataclass(frozen=True)
class WorkerConfig:
    model_dir: str
    voice: str
    threads: int
    chunk_tokens: int
    idle_s: float

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerConfig:
        return cls(**json.loads(text))


def serve(conn: Connection, config: WorkerConfig) -> None:
    """The worker's main: load, say ready, answer requests until idle, stopped or orphaned."""
    logging.basicConfig(level=logging.WARNING, format="kokoro worker: %(message)s")
    started = time.monotonic()
    try:
        voice = _load(config)
    except _LoadFailure as failure:
        _send(conn, failure.tag, str(failure))
        conn.close()
        raise SystemExit(MISSING_EXIT if failure.tag == "missing" else FAILED_EXIT) from None
    _send(conn, "ready", {"pid": os.getpid(), "load_s": time.monotonic() - started,
                          "maxrss_kb": _maxrss_kb()})
    while True:
        try:
            if not conn.poll(config.idle_s):
                break
            tag, payload = conn.recv()
        except (EOFError, OSError):
            break
        if tag != "render":
            break
        try:
            reply = _render(voice, payload)
        except BadDriverArgument as exc:
            _send(conn, "bad_text", str(exc))
        except Exception as exc:  # reported to the parent, which raises it to its caller
            _send(conn, "failed", f"{type(exc).__name__}: {exc}")
        else:
            _send(conn, "done", reply)
    conn.close()


class _LoadFailure(Exception):
    def __init__(self, tag: str, message: str) -> None:
        super().__init__(message)
        self.tag = tag


def _load(config: WorkerConfig):  # -> KokoroVoice
    """The voice, loaded; its module is imported here, not at the top, because the parent
    imports this module for :func:`serve` and must never load onnxruntime or jieba."""
    try:
        import jieba
        jieba.setLogLevel(logging.WARNING)
        from drivers.speech.kokoro_voice import KokoroVoice
    except ImportError as exc:
        raise _LoadFailure("missing", f"speech: the Kokoro voice needs the Python package "
                           f"{exc.name!r}, which is not installed; install with 'pip install "
                           f"{REQUIREMENTS}'") from None
    try:
        return KokoroVoice(config.model_dir, config.voice, threads=config.threads,
                           chunk_tokens=config.chunk_tokens)
    except DeviceMissingError as exc:
        raise _LoadFailure("missing", str(exc)) from None
    except Exception as exc:  # a file that passed its hash check but does not load
        raise _LoadFailure("failed", f"speech: the Kokoro voice did not load from "
                           f"{config.model_dir}: {type(exc).__name__}: {exc}") from None


def _render(voice, payload: dict) -> dict:
    began = time.monotonic()
    result = voice.synthesize(payload["text"], float(payload["speed"]))
    synth_s = time.monotonic() - began
    write_wav(Path(payload["out"]), result.samples.tobytes(), SAMPLE_RATE)
    return {"seconds": result.samples.size / SAMPLE_RATE, "synth_s": synth_s,
            "chunks": result.chunks, "dropped": result.dropped, "phonemes": result.phonemes,
            "maxrss_kb": _maxrss_kb()}


def _send(conn: Connection, tag: str, payload: object) -> None:
    try:
        conn.send((tag, payload))
    except (BrokenPipeError, OSError):
        pass  # the parent is gone or gave up on this request: nobody is left to tell


def _maxrss_kb() -> int:
    """This process's peak resident set size (KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="kokoro-worker",
                                     description="Kokoro synthesis worker (started by the "
                                                 "daemon, not by people)")
    parser.add_argument("--fd", type=int, required=True, help="the inherited socket")
    parser.add_argument("--config", required=True, help="WorkerConfig as JSON")
    args = parser.parse_args(argv)
    serve(Connection(args.fd), WorkerConfig.from_json(args.config))


"""The ``dualrec export SESSION --out DIR`` command.

Exit status: 0 exported and the session verifies; 1 exported, but the session does not verify
(the report says why); 2 nothing exported: the path is not a session, or DIR is unusable.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from firmware.errors import DualrecError


def run_export(session_path: Path, out: Path, key: Path | None = None, *,
               font: Path | None = None) -> int:
    """Export the session at ``session_path`` into ``out``; ``key`` (the insurer's private key)
    decrypts its media; ``font``: a font file with Chinese glyphs to draw with.
    Prints what it did; returns the exit status (see the module docstring)."""
    # imported here: PyAV, OpenCV and Pillow are not loaded by the other dualrec commands
    import av

    from firmware.office.export.export import export_session
    from firmware.office.export.fonts import choose_font
    from firmware.evidence.crypto import SESSION_KEY_FILE
    from firmware.office.export.media import media_opener
    if key is None and (Path(session_path) / SESSION_KEY_FILE).exists():
        print(f"dualrec export: {session_path}: its media are encrypted to the insurer's key; "
              "give --key INSURER_PRIVATE_KEY", file=sys.stderr)
        return 2
    try:
        opener = media_opener(key)
        result = export_session(Path(session_path), Path(out), opener=opener,
                                font=choose_font(font) if font else None)
    except (DualrecError, OSError, av.error.FFmpegError) as exc:
        print(f"dualrec export: {exc}", file=sys.stderr)
        return 2
    for problem in list(result.problems) + list(getattr(opener, "problems", [])):
        print(f"dualrec export: warning: {problem}", file=sys.stderr)
    if result.verify_error is not None:
        print(f"dualrec export: warning: the session could not be verified: "
              f"{result.verify_error}", file=sys.stderr)
    elif not result.verified:
        print(f"dualrec export: warning: the session does NOT verify "
              f"({len(result.verify.findings)} findings); exported all the same:",
              file=sys.stderr)
        for finding in result.verify.findings:
            print(f"  - {finding.text()}", file=sys.stderr)
    video = result.video
    if video is not None:
        print(f"{video.path}: {video.duration_s:.3f} s, {video.frames} frames "
              f"(+{video.filler_frames} black where there was no video)")
    for path in result.signatures:
        print(path)
    print(result.timeline)
    print(result.report)
    return 0 if result.verified else 1


def cmd_export(args: argparse.Namespace) -> int:
    return run_export(Path(args.session), Path(args.out), Path(args.key) if args.key else None,
                      font=Path(args.font) if args.font else None)


def add_export_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``export`` to the ``dualrec`` sub-commands; it runs :func:`cmd_export`."""
    p = subparsers.add_parser(
        "export", help="a review copy of one session: captioned MP4, signatures, timeline, "
        "HTML report (0 verified, 1 exported but not intact, 2 unusable input)")
    p.add_argument("session", help="the session directory, SPOOL/sessions/<id>")
    p.add_argument("--out", required=True, help="directory to write the review copy into "
                   "(created if missing; not inside the spool)")
    p.add_argument("--key", help="the insurer's private key (PEM) to decrypt the session's media")
    p.add_argument("--font", help="a TrueType/OpenType font with Chinese glyphs "
                   "(default: found with fontconfig)")
    p.set_defaults(func=cmd_export)
    return p

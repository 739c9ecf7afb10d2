"""Names built from data on the spool are matched whole: a trailing newline (which a regular
expression's ``$`` lets through) never makes a name, a path or a session id valid."""
from __future__ import annotations

import pytest

from firmware.evidence.spool import SAFE_NAME, SESSION_ID, safe_rel


@pytest.mark.parametrize("path", ["sessions/20261130T092442Z-2306f7/photo.jpg\n",
                                  "sessions/20261130T092442Z-2306f7\n/photo.jpg",
                                  "ledger/ledger-000001.jsonl\n"])
def test_a_trailing_newline_never_makes_a_safe_path(path):
    assert not safe_rel(path)
    assert safe_rel(path.replace("\n", ""))


def test_names_and_session_ids_are_matched_whole():
    assert SAFE_NAME.fullmatch("photo.jpg") and not SAFE_NAME.fullmatch("photo.jpg\n")
    assert SESSION_ID.fullmatch("20261130T092442Z-2306f7")
    assert not SESSION_ID.fullmatch("20261130T092442Z-2306f7\n")

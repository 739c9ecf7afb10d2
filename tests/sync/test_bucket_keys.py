"""Object keys are built only from a validated device id, plain prefix components and plain
spool paths (issue 11, C): nothing a configuration or a spool name holds can lead a key out of
the unit's own prefix."""
from __future__ import annotations

import pytest

from firmware.protocol.bucket import layout


@pytest.mark.parametrize("device_id, why", [
    ("", "empty"),
    ("..", "a parent directory"),
    ("dr/other-unit", "a slash"),
    ("../dr-0123", "a way up"),
    ("DR-0123456789AB", "uppercase"),
    ("dr-0123456789Ab", "one uppercase letter"),
    ("-dr-0123", "a leading '-'"),
    ("dr_0123", "an underscore"),
    ("dr.0123", "a dot"),
    ("dr", "too short"),
    ("d" * 64, "too long"),
    ("dr-0123\n", "a trailing newline"),
    ("dr-0123 ", "a space"),
    (None, "not text"),
    (123, "not text"),
])
def test_a_bad_device_id_is_refused_by_name(device_id, why):
    with pytest.raises(ValueError, match="is not a valid device id") as info:
        layout.device_root("insurer", device_id)
    assert repr(device_id) in str(info.value), why


def test_the_longest_device_id_is_accepted():
    assert layout.device_root("p", "d" * 63) == "p/" + "d" * 63


@pytest.mark.parametrize("prefix, component", [
    ("..", ".."),
    ("insurer/..", ".."),
    ("insurer/../other-insurer", ".."),
    ("./insurer", "."),
    ("insurer/.hidden", ".hidden"),
    ("insurer/-x", "-x"),
    ("insurer/a b", "a b"),
    ("insurer/a\nb", "a\nb"),
    ("insurer/x\n", "x\n"),
    ("insurer\\..\\x", "insurer\\..\\x"),
    ("insurer/" + "a" * 129, "a" * 129),
])
def test_a_prefix_with_a_way_out_is_refused_naming_the_component(prefix, component):
    with pytest.raises(ValueError, match="is not a plain name") as info:
        layout.device_root(prefix, "dr-0123456789ab")
    assert f"component {component!r}" in str(info.value)


def test_a_prefix_that_is_not_text_is_refused():
    with pytest.raises(ValueError, match="prefix None is not a string"):
        layout.device_root(None, "dr-0123456789ab")


def test_plain_prefixes_are_normalised_not_refused():
    assert layout.device_root("//a//B.c_d-1//", "dr-0123") == "a/B.c_d-1/dr-0123"
    assert layout.device_root("/", "dr-0123") == "dr-0123"


ROOT = "insurer/branch-7/dr-0123456789ab"


@pytest.mark.parametrize("rel", [
    "",
    "/",
    "/etc/passwd",
    "../dr-other/ledger/000000000001.ledger",
    "sessions/../../dr-other/device/device.json",
    "sessions/s1/../../x",
    "sessions/./s1/a.wav",
    "sessions//a.wav",
    "sessions/s1/a.wav\n",
    "sessions/s1/.a.wav",
])
def test_a_spool_path_that_is_not_plain_is_refused(rel):
    with pytest.raises(ValueError, match="is not a plain spool path: component"):
        layout.object_key(ROOT, rel)


def test_plain_spool_paths_and_listing_prefixes_are_keys():
    assert layout.object_key(ROOT, "sessions/s1/a.wav") == f"{ROOT}/sessions/s1/a.wav"
    assert layout.object_key(ROOT, "sessions/") == f"{ROOT}/sessions/"


def test_a_tail_key_or_a_bucket_with_a_trailing_newline_is_not_one():
    rel = layout.tail_rel("000000000029.ledger", 0, 502)
    assert layout.parse_tail_rel(rel + "\n") is None
    with pytest.raises(ValueError, match="is not a valid bucket name"):
        layout.parse_s3_url("s3://evidence-bucket\n/a")

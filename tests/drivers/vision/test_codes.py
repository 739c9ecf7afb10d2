"""QR decoding in the caller's process, and the checks every image passes before a decoder
sees it: header sizes read without decoding, arbitrary bytes refused cleanly."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.errors import BadDriverArgument
from drivers.vision.codes import decode_image, read_codes
from drivers.vision.inputs import MAX_PIXELS, check_array, check_encoded, encoded_size
from firmware.people.qr import qr_image

TEXT = "DRSTAFF1:S0002:3:" + "B" * 86


def test_a_code_reads_from_an_array_grey_and_encoded_stills():
    image = qr_image(TEXT, module_px=4)
    assert read_codes(image) == [TEXT]
    assert read_codes(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)) == [TEXT]
    for ext in (".jpg", ".png"):
        ok, data = cv2.imencode(ext, image)
        assert ok and read_codes(data.tobytes()) == [TEXT]


def test_a_small_far_code_needs_the_enlarge_fallback():
    """About 2.5 px a module in a big grey scene."""
    code = qr_image(TEXT * 4, module_px=5)
    small = cv2.resize(code, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    scene = np.full((1080, 1920, 3), 90, np.uint8)
    scene[300:300 + small.shape[0], 700:700 + small.shape[1]] = small
    assert read_codes(scene) == []
    assert read_codes(scene, enlarge=True) == [TEXT * 4]


@settings(max_examples=60, deadline=None)
@given(width=st.integers(16, 700), height=st.integers(16, 700),
       ext=st.sampled_from([".jpg", ".png"]))
def test_header_sizes_are_what_the_decoder_makes(width, height, ext):
    ok, data = cv2.imencode(ext, np.zeros((height, width, 3), np.uint8))
    raw = data.tobytes()
    assert encoded_size(raw) == (width, height) == check_encoded(raw)
    assert decode_image(raw).shape == (height, width, 3)


@settings(max_examples=300, deadline=None)
@given(raw=st.one_of(st.binary(max_size=300),
                     st.binary(max_size=300).map(lambda b: b"\xff\xd8" + b),
                     st.binary(max_size=300).map(lambda b: b"\x89PNG\r\n\x1a\n" + b)))
def test_arbitrary_bytes_are_refused_or_decoded_never_crash(raw):
    size = encoded_size(raw)
    assert size is None or all(0 <= v < 2 ** 32 for v in size)
    try:
        check_encoded(raw)
    except BadDriverArgument:
        return
    try:
        image = decode_image(raw)
    except BadDriverArgument:
        return
    assert image.dtype == np.uint8 and image.shape[0] * image.shape[1] <= MAX_PIXELS


def test_jpeg_markers_before_the_frame_header_are_skipped():
    ok, data = cv2.imencode(".jpg", np.zeros((40, 60, 3), np.uint8))
    raw = data.tobytes()
    comment = b"\xff\xfe\x00\x07hello"            # a fill byte, then a COM segment
    assert encoded_size(raw[:2] + b"\xff" + comment + raw[2:]) == (60, 40)
    assert encoded_size(b"\xff\xd8\xff\xda\x00\x02") is None     # scan before any frame


@pytest.mark.parametrize("image, grey", [(np.zeros((20, 20), np.uint8), False),
                                         (np.zeros((20, 20, 2), np.uint8), True),
                                         (np.zeros((20, 20, 3), np.uint16), True),
                                         (np.zeros((15, 20, 3), np.uint8), True),
                                         ([[0] * 20] * 20, True)])
def test_arrays_that_are_not_images_are_refused(image, grey):
    with pytest.raises(BadDriverArgument):
        check_array(image, grey=grey)


def test_a_view_into_a_larger_array_is_read():
    scene = np.full((600, 900, 3), 200, np.uint8)
    code = qr_image(TEXT, module_px=4)
    scene[50:50 + code.shape[0], 400:400 + code.shape[1]] = code
    view = scene[20:, 350:]                      # not contiguous in memory
    assert not view.flags.c_contiguous
    assert read_codes(view) == [TEXT]

"""The document library: PDFs named by SHA-256, verified, rendered with pdfium, cached."""
from __future__ import annotations

import hashlib
import io
import os
import shutil

import pypdfium2
import pytest
from PIL import Image

from firmware.unit.display.documents import DocumentLibrary, render_width
from firmware.unit.display.errors import (DocumentAlteredError, DocumentMissingError,
                                     DocumentUnreadableError, ManifestError)

from .conftest import DOCUMENTS

TITLES = {"投保提示书", "保险条款", "责任免除条款"}


@pytest.fixture
def copy(tmp_path):
    """A writable copy of the sample library."""
    root = tmp_path / "documents"
    shutil.copytree(DOCUMENTS, root)
    return root


def test_the_sample_set_matches_its_manifest_and_is_chinese_text(library):
    assert {e.title for e in library.entries.values()} == TITLES
    for sha, entry in library.entries.items():
        data = (DOCUMENTS / entry.file).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha
        doc = library.open(sha)
        assert doc.pages >= 2 and doc.min_page_ms == 5000
        pdf = pypdfium2.PdfDocument(data)
        try:
            page = pdf[0]
            text = page.get_textpage().get_text_range()
            assert entry.title in text        # real text with an embedded CJK font
        finally:
            pdf.close()


def test_pages_render_to_png_at_bucketed_widths_from_cache(library):
    sha = next(iter(library.entries))
    png = library.render_png(sha, 1, 790)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.width == 800 and image.height > image.width
    assert library.render_png(sha, 1, 800) is png          # the cached bytes
    assert [render_width(w) for w in (1, 161, 800, 801, 99999)] == [160, 240, 800, 880, 2000]


def test_a_page_that_does_not_exist_is_an_error_naming_the_document(library):
    sha = next(iter(library.entries))
    with pytest.raises(DocumentUnreadableError, match=f"{sha}.*no page 99"):
        library.render_png(sha, 99, 800)


def test_a_document_not_in_the_library_is_missing_by_its_hash(library):
    with pytest.raises(DocumentMissingError, match="b" * 64) as info:
        library.open("b" * 64)
    assert info.value.sha256 == "b" * 64
    assert isinstance(info.value, FileNotFoundError)


def test_a_deleted_file_is_missing_with_its_title(copy):
    library = DocumentLibrary(copy)
    sha, entry = next((s, e) for s, e in library.entries.items() if e.title == "保险条款")
    (copy / entry.file).unlink()
    with pytest.raises(DocumentMissingError, match=f"{sha}.*保险条款.*missing"):
        library.open(sha)


def test_an_altered_document_is_refused_with_its_new_hash(copy):
    library = DocumentLibrary(copy)
    sha, entry = next((s, e) for s, e in library.entries.items() if e.title == "责任免除条款")
    path = copy / entry.file
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(DocumentAlteredError, match=f"{sha}.*责任免除条款.*altered") as info:
        library.open(sha)
    assert hashlib.sha256(bytes(data)).hexdigest() in str(info.value)


def test_pages_are_rendered_from_the_verified_bytes_not_the_file(copy):
    library = DocumentLibrary(copy)
    sha, entry = next(iter(library.entries.items()))
    library.open(sha)
    (copy / entry.file).write_bytes(b"%PDF-1.4 replaced")
    assert Image.open(io.BytesIO(library.render_png(sha, 2, 400))).width == 400
    with pytest.raises(DocumentAlteredError):
        library.open(sha)             # the next node start notices


def test_a_symlinked_document_is_not_followed(copy):
    library = DocumentLibrary(copy)
    sha, entry = next(iter(library.entries.items()))
    real = copy / "elsewhere.pdf"
    (copy / entry.file).rename(real)
    os.symlink(real, copy / entry.file)
    with pytest.raises(DocumentMissingError, match="symlink"):
        library.open(sha)


def test_a_file_that_is_not_a_pdf_is_unreadable(copy):
    data = b"not a pdf at all"
    sha = hashlib.sha256(data).hexdigest()
    (copy / "junk.pdf").write_bytes(data)
    (copy / "manifest.toml").write_text(f'[[document]]\nsha256 = "{sha}"\nfile = "junk.pdf"\n'
                                        'title = "坏文件"\nmin_page_seconds = 1\n')
    with pytest.raises(DocumentUnreadableError, match="坏文件"):
        DocumentLibrary(copy).open(sha)


@pytest.mark.parametrize("manifest, match", [
    ('[[document]]\nsha256 = "x"\nfile = "a.pdf"\ntitle = "t"\nmin_page_seconds = 1\n',
     "sha256: must be 64"),
    (f'[[document]]\nsha256 = "{"c" * 64}"\nfile = "../a.pdf"\ntitle = "t"\nmin_page_seconds = 1\n',
     "plain file name"),
    (f'[[document]]\nsha256 = "{"c" * 64}"\nfile = "a.pdf"\ntitle = "t"\n', "exactly the keys"),
    (f'[[document]]\nsha256 = "{"c" * 64}"\nfile = "a.pdf"\ntitle = "t"\nmin_page_seconds = -2\n',
     "0..600"),
    ('[library]\nname = "x"\n', "only \\[\\[document\\]\\]"),
    ("[[document]\n", "not TOML"),
])
def test_a_bad_manifest_names_the_key(tmp_path, manifest, match):
    (tmp_path / "manifest.toml").write_text(manifest)
    with pytest.raises(ManifestError, match=match):
        DocumentLibrary(tmp_path)


def test_a_library_without_manifest_says_what_to_deliver(tmp_path):
    with pytest.raises(ManifestError, match="no manifest"):
        DocumentLibrary(tmp_path)

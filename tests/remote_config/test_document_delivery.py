"""Documents of the customer's screen delivered with the back office's signed configuration
(issue 15): the bundle signs the library's manifest, the PDFs travel beside it and enter the
library only with the bytes it signs; the unit keeps the manifest as signed at every start."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from remote_config_unit import DEVICE, unit_config

from firmware.cli.main import main as dualrec
from firmware.config.bundle import (BundleFormatError, ConfigBundle, format_time,
                                    sign_config_bundle, verify_config_bundle)
from firmware.config.documents import (MANIFEST, REFUSED_IN_TITLE, DocumentEntry,
                                       document_entries, manifest_toml)
from firmware.config.model import Config
from firmware.evidence.keys import DeviceKey
from firmware.unit.display.documents import DocumentLibrary
from firmware.unit.document_delivery import DocumentDeliveryError, keep_library
from firmware.unit.remote_config import RemoteConfig, with_desired_config
from provisioning.cli import main as provision
from provisioning.config_bundle import read_documents

SAMPLES = Path(__file__).resolve().parents[2] / "config" / "documents"
NOW = dt.datetime.now(dt.timezone.utc)


@pytest.fixture(scope="module")
def samples() -> list[dict[str, Any]]:
    """The shipped sample documents (three real PDFs), as the office reads them to sign."""
    return read_documents(SAMPLES)


@pytest.fixture
def unit(tmp_path: Path, backoffice: DeviceKey) -> Config:
    return unit_config(tmp_path / "unit", backoffice,
                       display={"documents": str(tmp_path / "unit" / "library")})


def library_of(config: Config) -> Path:
    return Path(config.display.documents)


def bundle(key: DeviceKey, serial: int, documents: list[dict[str, Any]] | None,
           config: dict[str, Any] | None = None) -> bytes:
    body: dict[str, Any] = {"serial": serial, "issued": format_time(NOW),
                            "scope": {"devices": [DEVICE]}, "config": config or {}}
    if documents is not None:
        body["documents"] = documents
    return sign_config_bundle(body, key.sign, key.public)


def accept(config: Config, raw: bytes, source: Path | None = SAMPLES) -> ConfigBundle:
    return RemoteConfig.for_unit(config).accept_bundle(raw, now=NOW, documents_from=source)


def test_a_bundles_documents_enter_the_library_and_the_screen_opens_them(
        unit: Config, backoffice: DeviceKey, samples: list[dict[str, Any]]) -> None:
    accepted = accept(unit, bundle(backoffice, 1, samples))
    assert [d.sha256 for d in accepted.documents or ()] == [d["sha256"] for d in samples]
    library = DocumentLibrary(library_of(unit))         # the real library, pdfium included
    for doc in samples:
        assert (library_of(unit) / f"{doc['sha256']}.pdf").is_file()
        opened = library.open(doc["sha256"])
        assert opened.title == doc["title"] and opened.pages >= 1
        assert library.render_png(doc["sha256"], 1, 400).startswith(b"\x89PNG")
    assert RemoteConfig.for_unit(unit).layers().bundle.serial == 1


def test_a_missing_or_different_pdf_refuses_the_whole_bundle(
        tmp_path: Path, unit: Config, backoffice: DeviceKey,
        samples: list[dict[str, Any]]) -> None:
    given = tmp_path / "given"
    shutil.copytree(SAMPLES, given)
    (given / samples[0]["file"]).unlink()
    (given / samples[1]["file"]).write_bytes(b"%PDF-1.4 not what was signed")
    with pytest.raises(DocumentDeliveryError) as caught:
        accept(unit, bundle(backoffice, 1, samples), given)
    said = str(caught.value)
    assert samples[0]["sha256"] in said and "does not exist" in said
    assert samples[1]["sha256"] in said and "not the one the bundle signs" in said
    assert samples[2]["sha256"] not in said and "--documents DIR" in said
    assert not (library_of(unit) / MANIFEST).exists()       # the manifest is untouched
    assert RemoteConfig.for_unit(unit).layers().bundle is None   # and the bundle not kept
    with pytest.raises(DocumentDeliveryError, match="no directory of PDFs was given"):
        accept(unit, bundle(backoffice, 1, samples), None)


def test_symlinks_are_neither_read_nor_followed(tmp_path: Path, unit: Config,
                                                backoffice: DeviceKey,
                                                samples: list[dict[str, Any]]) -> None:
    given = tmp_path / "given"
    shutil.copytree(SAMPLES, given)
    first = given / samples[0]["file"]
    real = tmp_path / "elsewhere.pdf"
    first.rename(real)
    first.symlink_to(real)
    with pytest.raises(DocumentDeliveryError, match="cannot be read"):
        accept(unit, bundle(backoffice, 1, samples), given)
    first.unlink()
    real.rename(first)
    # a symlink planted where a document goes is replaced by the file, its target untouched
    library = library_of(unit)
    library.mkdir(parents=True, exist_ok=True)   # the refused delivery made it already
    victim = tmp_path / "victim"
    victim.write_bytes(b"not yours")
    (library / f"{samples[0]['sha256']}.pdf").symlink_to(victim)
    accept(unit, bundle(backoffice, 1, samples), given)
    assert victim.read_bytes() == b"not yours"
    assert not (library / f"{samples[0]['sha256']}.pdf").is_symlink()
    # a library that is itself a symlink is refused
    other = unit_config(tmp_path / "other", backoffice,
                        display={"documents": str(tmp_path / "linked")})
    (tmp_path / "linked").symlink_to(tmp_path / "target", target_is_directory=True)
    (tmp_path / "target").mkdir()
    with pytest.raises(OSError, match="symlink"):
        accept(other, bundle(backoffice, 1, samples), given)
    assert list((tmp_path / "target").iterdir()) == []


def test_a_later_bundle_needs_no_pdfs_the_library_holds(unit: Config, backoffice: DeviceKey,
                                                        samples: list[dict[str, Any]]) -> None:
    accept(unit, bundle(backoffice, 1, samples))
    fewer = [{**samples[0], "title": "投保提示书（新版）", "min_page_seconds": 8}]
    accept(unit, bundle(backoffice, 2, fewer, {"mqtt": {"keepalive_s": 45}}), None)
    manifest = tomllib.loads((library_of(unit) / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["document"] == [{"sha256": samples[0]["sha256"],
                                     "file": f"{samples[0]['sha256']}.pdf",
                                     "title": "投保提示书（新版）", "min_page_seconds": 8}]
    # a bundle without documents leaves the library as it is
    before = {p.name: p.read_bytes() for p in library_of(unit).iterdir()}
    accept(unit, bundle(backoffice, 3, None), None)
    assert {p.name: p.read_bytes() for p in library_of(unit).iterdir()} == before


def test_at_start_the_manifest_is_as_signed_and_unlisted_pdfs_go(
        unit: Config, backoffice: DeviceKey, samples: list[dict[str, Any]]) -> None:
    accept(unit, bundle(backoffice, 1, samples))
    accept(unit, bundle(backoffice, 2, samples[:2]), None)
    library = library_of(unit)
    manifest = library / MANIFEST
    signed = manifest.read_bytes()
    manifest.write_text(signed.decode("utf-8").replace("min_page_seconds = 5",
                                                       "min_page_seconds = 0"))
    foreign = library / "notes.pdf"              # not a delivered document: left alone
    foreign.write_bytes(b"%PDF")
    with_desired_config(unit)                    # what the daemon does at every start
    assert manifest.read_bytes() == signed
    assert not (library / f"{samples[2]['sha256']}.pdf").exists() and foreign.exists()
    assert keep_library(RemoteConfig.for_unit(unit).layers().bundle, library) == []
    assert DocumentLibrary(library).entry(samples[0]["sha256"]).min_page_seconds == 5


@given(st.lists(st.tuples(st.binary(min_size=1, max_size=8),
                          st.text(st.characters(blacklist_categories=tuple(REFUSED_IN_TITLE)),
                                  min_size=1, max_size=100),
                          st.one_of(st.integers(0, 600),
                                    st.floats(0, 600, allow_nan=False))),
                max_size=8, unique_by=lambda t: t[0]))
def test_the_written_manifest_reads_back_exactly(docs: list[tuple[bytes, str, float]]) -> None:
    """Any title the rules allow (quotes, backslashes, any script) and any reading time survive
    the manifest the unit writes, as the library reads it."""
    entries = tuple(DocumentEntry(hashlib.sha256(data).hexdigest(), f"d{i}.pdf", title,
                                  float(secs)) for i, (data, title, secs) in enumerate(docs))
    text = manifest_toml(entries, "a comment\nof two lines").decode("utf-8")
    assert document_entries(tomllib.loads(text).get("document", []), "m") == (entries, [])


@pytest.mark.parametrize("documents, why", [
    ([{"sha256": "ab" * 32, "file": "a.pdf", "title": "x"}], "needs exactly the keys"),
    ([{"sha256": "AB" * 32, "file": "a.pdf", "title": "x", "min_page_seconds": 1}],
     "documents[0].sha256"),
    ([{"sha256": "ab" * 32, "file": "../a.pdf", "title": "x", "min_page_seconds": 1}],
     "documents[0].file"),
    ([{"sha256": "ab" * 32, "file": "a.pdf", "title": "x", "min_page_seconds": 1},
      {"sha256": "cd" * 32, "file": "a.pdf", "title": "y", "min_page_seconds": 1}],
     "listed twice"),
    ({"sha256": "ab" * 32}, "must be a list"),
    ([{"sha256": "ab" * 32, "file": "a.pdf", "title": "条款\u202e", "min_page_seconds": 1}],
     "control or invisible"),
])
def test_a_malformed_document_manifest_is_refused(backoffice: DeviceKey, documents: Any,
                                                  why: str) -> None:
    body = json.dumps({"serial": 1, "issued": format_time(NOW),
                       "scope": {"devices": [DEVICE]}, "config": {}, "documents": documents})
    with pytest.raises(BundleFormatError, match=why.replace("[", r"\[").replace("]", r"\]")
                       .replace(".", r"\.")):
        ConfigBundle.from_body(body)


def test_from_the_office_to_the_unit_on_the_command_line(tmp_path: Path, capsys) -> None:
    key = tmp_path / "bo.key"
    assert provision(["roster", "keygen", "--out", str(key)]) == 0
    changes = tmp_path / "changes.toml"
    changes.write_text("[mqtt]\nkeepalive_s = 60\n")
    out = tmp_path / "bundle.json"
    assert provision(["config", "sign", "--key", str(key), "--serial", "4", "--in",
                      str(changes), "--out", str(out), "--device", DEVICE,
                      "--documents", str(SAMPLES)]) == 0
    assert "documents of the customer's screen: 3" in capsys.readouterr().out
    public = DeviceKey.load(key).public
    assert len(verify_config_bundle(out.read_bytes(), public).documents or ()) == 3
    wrong = tmp_path / "wrong"
    shutil.copytree(SAMPLES, wrong)
    pdf = next(wrong.glob("*.pdf"))
    pdf.write_bytes(pdf.read_bytes() + b"\n")
    assert provision(["config", "sign", "--key", str(key), "--serial", "5", "--in",
                      str(changes), "--out", str(tmp_path / "b5.json"), "--device", DEVICE,
                      "--documents", str(wrong)]) == 2
    assert "the manifest says" in capsys.readouterr().err
    assert not (tmp_path / "b5.json").exists()

    unit = tmp_path / "unit"
    unit.mkdir()
    toml = unit / "dualrec.toml"
    toml.write_text(f'[device]\nid = "{DEVICE}"\nkey_file = "{unit}/keys/device.key"\n'
                    f'[spool]\npath = "{unit}/spool"\n[drivers]\nbackend = "sim"\n'
                    f'[people]\nbackoffice_public_key = "{public.b64}"\n[control]\n'
                    f'socket = ""\n[display]\ndocuments = "{unit}/library"\n')
    (unit / "spool").mkdir()
    assert dualrec(["config", "apply-bundle", str(out), "--config", str(toml)]) == 1
    assert "--documents DIR" in capsys.readouterr().out
    assert dualrec(["config", "apply-bundle", str(out), "--config", str(toml),
                    "--documents", str(SAMPLES)]) == 0
    assert "3 documents in the library" in capsys.readouterr().out
    held = sorted(p.name for p in (unit / "library").iterdir())
    assert held == sorted([MANIFEST] + [f"{hashlib.sha256(p.read_bytes()).hexdigest()}.pdf"
                                        for p in SAMPLES.glob("*.pdf")])
    assert oct(os.stat(unit / "library" / MANIFEST).st_mode & 0o777) == "0o640"

"""The encrypted media file format, version 1: the header, the trailer, nonces and associated data.

docs/encryption.md is the specification; this module is its byte layout in code. A file is

    header    38 bytes   magic, version, suite, chunk size, session key id, nonce prefix
    chunk 0 .. chunk n-1 AES-256-GCM ciphertext || 16-byte tag each; every chunk but the last
                         holds exactly ``chunk_size`` plaintext bytes, the last 0..chunk_size
    trailer   16 bytes   end magic, plaintext length (present only once the file was finished)

All integers are big-endian.
"""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from firmware.evidence.crypto.errors import MediaFormatError, MediaNameError

MAGIC = b"\x89DRE\r\n\x1a\n"
END_MAGIC = b"\x89DRE-END"
VERSION = 1
SUITE_AES256_GCM = 1          #: AES-256-GCM, 96-bit nonce, 128-bit tag
HEADER = struct.Struct(">8sBBI16s8s")   # magic, version, suite, chunk_size, key_id, nonce_prefix
TRAILER = struct.Struct(">8sQ")         # end magic, plaintext length in bytes
HEADER_SIZE = HEADER.size               # 38
TRAILER_SIZE = TRAILER.size             # 16
TAG_SIZE = 16
KEY_ID_SIZE = 16
NONCE_PREFIX_SIZE = 8
DEFAULT_CHUNK_SIZE = 64 * 1024          #: plaintext bytes per chunk
MAX_CHUNK_SIZE = 16 * 1024 * 1024
#: the nonce counter of chunk 0 when it is written a second time (after ``write_at``)
REWRITTEN_HEAD_COUNTER = 0xFFFFFFFF
MAX_CHUNKS = REWRITTEN_HEAD_COUNTER     #: chunk indices run 0 .. MAX_CHUNKS - 1
FLAG_FINAL = 0x01                       #: in the associated data: the last chunk of the file
FLAG_REWRITTEN_HEAD = 0x02              #: in the associated data: chunk 0, second writing
_AAD_TAIL = struct.Struct(">IBH")       # chunk index, flags, name length
_RECOVERED = re.compile(r"\.recovered-[0-9]+$")


@dataclass(frozen=True)
class Header:
    """The clear-text header of one file; its 38 bytes are bound into every chunk."""

    chunk_size: int        #: plaintext bytes per chunk
    key_id: bytes          #: 16 bytes: which session key (SessionKey.key_id)
    nonce_prefix: bytes    #: 8 random bytes, fresh for every file

    def pack(self) -> bytes:
        return HEADER.pack(MAGIC, VERSION, SUITE_AES256_GCM, self.chunk_size, self.key_id,
                           self.nonce_prefix)

    @classmethod
    def unpack(cls, data: bytes, where: str) -> "Header":
        """Parse the first 38 bytes of a file; :class:`MediaFormatError` names ``where`` and
        the field that is wrong."""
        if len(data) < HEADER_SIZE or data[:len(MAGIC)] != MAGIC:
            raise MediaFormatError(f"{where}: not encrypted dualrec media (no "
                                   f"{MAGIC!r} header)")
        magic, version, suite, chunk_size, key_id, prefix = HEADER.unpack(data[:HEADER_SIZE])
        if version != VERSION:
            raise MediaFormatError(f"{where}: encrypted media version {version}; this firmware "
                                   f"reads version {VERSION}")
        if suite != SUITE_AES256_GCM:
            raise MediaFormatError(f"{where}: unknown cipher suite {suite} in the header")
        check_chunk_size(chunk_size, where)
        return cls(chunk_size, key_id, prefix)

    @property
    def segment_size(self) -> int:
        """Bytes one full chunk takes in the file (plaintext + tag)."""
        return self.chunk_size + TAG_SIZE


def check_chunk_size(chunk_size: int, where: str = "chunk_size") -> None:
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise MediaFormatError(f"{where}: chunk size {chunk_size} is outside 1..{MAX_CHUNK_SIZE}")


def nonce(header: Header, counter: int) -> bytes:
    """The 12-byte GCM nonce: the file's 8-byte prefix, then the 32-bit counter (the chunk
    index, or :data:`REWRITTEN_HEAD_COUNTER`)."""
    return header.nonce_prefix + counter.to_bytes(4, "big")


def associated_data(header_bytes: bytes, index: int, flags: int, name: bytes) -> bytes:
    """What each chunk's tag also authenticates: the header, the chunk's index and flags, and
    the file's name, so chunks cannot be reordered, cut off or moved to another file."""
    return header_bytes + _AAD_TAIL.pack(index, flags, len(name)) + name


def encode_name(name: str) -> bytes:
    """The file's name as bound into each chunk: its path within the session, UTF-8."""
    if not isinstance(name, str) or not name:
        raise MediaNameError(f"the name bound into encrypted media must be a non-empty "
                             f"string, not {name!r}")
    raw = name.encode("utf-8")
    if len(raw) > 0xFFFF:
        raise MediaNameError(f"name of {len(raw)} bytes is too long to bind (at most 65535)")
    return raw


def bound_name(filename: str) -> str:
    """The name a file was encrypted under, from the name it has in the spool: without the
    ``.part`` of a file being written and the ``.recovered-N`` recovery may add."""
    if filename.endswith(".part"):
        filename = filename[:-len(".part")]
    return _RECOVERED.sub("", filename)


def pack_trailer(plaintext_length: int) -> bytes:
    return TRAILER.pack(END_MAGIC, plaintext_length)


def unpack_trailer(data: bytes) -> int | None:
    """The plaintext length a trailer records, or None if ``data`` is not a trailer."""
    if len(data) != TRAILER_SIZE or data[:len(END_MAGIC)] != END_MAGIC:
        return None
    return TRAILER.unpack(data)[1]

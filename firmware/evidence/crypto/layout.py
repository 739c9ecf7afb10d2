"""How an encrypted media file's bytes divide into header, chunks and end marker — readable
without any key, for :func:`inspect` and as the reader's map."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import BinaryIO, Iterator

from firmware.evidence import durable
from firmware.evidence.crypto.errors import MediaAuthenticationError, MediaFormatError
from firmware.evidence.crypto.media_format import (HEADER_SIZE, MAGIC, MAX_CHUNKS, TAG_SIZE,
                                          TRAILER_SIZE, Header, unpack_trailer)


@dataclass(frozen=True)
class Layout:
    """The map of one file. ``header`` is None for a file cut inside its header (a power cut
    right after it was created): it holds no media."""

    where: str                       #: the file's name, for messages
    base: int                        #: offset of the header in the file object
    size: int                        #: bytes from ``base`` to the end of the file
    header: Header | None
    header_bytes: bytes
    declared_length: int | None      #: plaintext bytes the end marker records (finished only)

    @property
    def finished(self) -> bool:
        """The end marker is there: the writer finished the file."""
        return self.declared_length is not None

    @property
    def body_end(self) -> int:
        """Offset (from ``base``) where the chunks end."""
        return self.size - TRAILER_SIZE if self.finished else self.size

    @property
    def chunk_count(self) -> int:
        """Chunk slots between header and end marker (the last may be incomplete)."""
        if self.header is None or self.body_end <= HEADER_SIZE:
            return 0
        return -(-(self.body_end - HEADER_SIZE) // self.header.segment_size)

    def spans(self) -> Iterator[tuple[int, int, int]]:
        """``(index, offset, length)`` of each chunk slot, in order (offsets from ``base``);
        the last may be shorter than a full chunk."""
        if self.header is None:
            return
        seg = self.header.segment_size
        for index, offset in enumerate(range(HEADER_SIZE, self.body_end, seg)):
            yield index, offset, min(seg, self.body_end - offset)

    def check_finished(self) -> None:
        """For a finished file: the chunks fit the recorded length, else
        :class:`MediaAuthenticationError` (the end marker or the file's length was changed)."""
        if not self.finished or self.header is None:
            return
        count = self.chunk_count
        body = self.body_end - HEADER_SIZE
        last = body - (count - 1) * self.header.segment_size
        where = f"{self.where}: end marker (bytes {self.body_end}..{self.size - 1})"
        if not count or last < TAG_SIZE:
            raise MediaAuthenticationError(f"{where}: {body} bytes before it cannot end in a "
                                           "whole chunk; the file was cut or changed",
                                           offset=self.body_end, length=TRAILER_SIZE)
        plain = body - TAG_SIZE * count
        if plain != self.declared_length:
            raise MediaAuthenticationError(
                f"{where} records {self.declared_length} plaintext bytes but the chunks hold "
                f"{plain}: the file was cut, extended or changed",
                offset=self.body_end, length=TRAILER_SIZE)


def read_layout(f: BinaryIO, where: str) -> Layout:
    """Map the encrypted file in ``f`` from its current position to its end (``f`` must be
    seekable). :class:`MediaFormatError` if it is not encrypted dualrec media."""
    base = f.tell()
    size = f.seek(0, os.SEEK_END) - base
    f.seek(base)
    head = f.read(HEADER_SIZE)
    if size < HEADER_SIZE and head and MAGIC.startswith(head[:len(MAGIC)]):
        return Layout(where, base, size, None, head, None)  # cut inside its header
    header = Header.unpack(head, where)
    if -(-(size - HEADER_SIZE) // header.segment_size) > MAX_CHUNKS:
        raise MediaFormatError(f"{where}: {size} bytes are more than {MAX_CHUNKS} chunks of "
                               f"{header.chunk_size} bytes (the chunk size was changed?)")
    declared = None
    if size >= HEADER_SIZE + TRAILER_SIZE:
        f.seek(base + size - TRAILER_SIZE)
        declared = unpack_trailer(f.read(TRAILER_SIZE))
    f.seek(base + HEADER_SIZE)
    return Layout(where, base, size, header, head, declared)


def is_encrypted(path: str | os.PathLike) -> bool:
    """The file starts with the encrypted-media magic (or a prefix of it, when cut short)."""
    with durable.open_reading(path) as f:
        head = f.read(len(MAGIC))
    return bool(head) and MAGIC.startswith(head)


@dataclass(frozen=True)
class MediaReport:
    """What can be known about an encrypted file without its key. Nothing here is
    authenticated: only decryption proves the chunks are what the unit wrote."""

    path: str
    size: int                        #: bytes
    chunk_size: int | None           #: plaintext bytes per chunk
    key_id: str | None               #: hex id of the session key
    nonce_prefix: str | None         #: hex
    finished: bool                   #: the end marker is present
    plaintext_length: int | None     #: bytes, as the end marker records it
    complete_chunks: int             #: whole chunks in the file
    trailing_bytes: int              #: bytes of an incomplete chunk at the end
    truncated: bool                  #: no end marker: cut by a power cut (or later)
    problem: str | None              #: a structural inconsistency (a changed or cut file)

    def as_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        if self.chunk_size is None:
            return f"{self.path}: {self.size} bytes, cut inside its header: no media"
        state = ("finished" if self.finished else
                 f"TRUNCATED (no end marker; {self.trailing_bytes} bytes of an incomplete "
                 "chunk at the end)")
        length = (f", {self.plaintext_length} plaintext bytes"
                  if self.plaintext_length is not None else "")
        line = (f"{self.path}: {self.size} bytes, {self.complete_chunks} chunks of "
                f"{self.chunk_size}{length}, session key {self.key_id}, {state}")
        return line + (f"; PROBLEM: {self.problem}" if self.problem else "")


def inspect(path: str | os.PathLike) -> MediaReport:
    """Report an encrypted file's chunks and whether it is complete, without a key."""
    with durable.open_reading(path) as f:
        layout = read_layout(f, str(path))
    header = layout.header
    if header is None:
        return MediaReport(str(path), layout.size, None, None, None, False, None, 0, 0, True,
                           None)
    problem = None
    try:
        layout.check_finished()
    except (MediaAuthenticationError, MediaFormatError) as exc:
        problem = str(exc)
    seg = header.segment_size
    if layout.finished:
        whole, trailing = layout.chunk_count, 0
    else:
        whole, trailing = divmod(layout.body_end - HEADER_SIZE, seg)
    return MediaReport(str(path), layout.size, header.chunk_size, header.key_id.hex(),
                       header.nonce_prefix.hex(), layout.finished, layout.declared_length,
                       whole, trailing, not layout.finished, problem)

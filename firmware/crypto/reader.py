"""Decrypting encrypted media: streaming (:class:`DecryptingReader`) or whole
(:func:`decrypt_file`).

Every chunk is authenticated before its plaintext is returned. A finished file (one with its
end marker) must be whole: any changed, reordered, dropped or foreign chunk is a
:class:`MediaAuthenticationError` naming the chunk. A file without its end marker was cut
while being written (a power cut): its complete chunks are returned and the file is reported
as truncated — an incomplete chunk at its end is never authentic and is dropped.
"""
from __future__ import annotations

import os
from typing import BinaryIO, Iterator

from cryptography.exceptions import InvalidTag

from firmware.crypto.errors import (MediaAuthenticationError, TruncatedMediaError,
                                    WrongKeyError)
from firmware.crypto.layout import Layout, read_layout
from firmware.crypto.media_format import (FLAG_FINAL, FLAG_REWRITTEN_HEAD, REWRITTEN_HEAD_COUNTER,
                                          TAG_SIZE, TRAILER_SIZE, associated_data, encode_name,
                                          nonce)
from firmware.crypto.session_key import SessionKey

Source = str | os.PathLike | BinaryIO


class DecryptingReader:
    """Reads the plaintext of one encrypted file, chunk by chunk.

    ``source`` is a path or a seekable binary file object (read from its current position to
    its end). ``name`` is the name the file was encrypted under (its path within the session,
    see :func:`~firmware.crypto.media_format.bound_name`).

    Bytes returned are authentic, but like any stream the file may turn out to be cut short:
    after the last byte :attr:`truncated` says so, and unless ``allow_truncated`` reading past
    the last complete chunk raises :class:`TruncatedMediaError`.
    """

    def __init__(self, source: Source, key: SessionKey, name: str, *,
                 allow_truncated: bool = False) -> None:
        self._owns = isinstance(source, (str, os.PathLike))
        self._f: BinaryIO = open(source, "rb") if self._owns else source  # type: ignore[arg-type]
        where = str(source) if self._owns else str(getattr(source, "name", "<stream>"))
        try:
            self.layout: Layout = read_layout(self._f, where)
            header = self.layout.header
            if header is not None and header.key_id != key.key_id:
                raise WrongKeyError(f"{where} was encrypted with session key "
                                    f"{header.key_id.hex()}; the key given is {key.key_id_hex} "
                                    "(another session's key, or the header was changed)")
            self._name = encode_name(name)
            self._cipher = key.cipher()
        except BaseException:
            self.close()
            raise
        self.name = name
        self.where = where
        self.allow_truncated = allow_truncated
        self.chunks_read = 0               #: authentic chunks returned so far
        self.truncated: bool | None = None  #: known once the end was reached
        self.finished = self.layout.finished  #: the end marker is present
        self.status = ""                   #: what the end of the file looked like
        self._pending = bytearray()
        self._failed: BaseException | None = None
        self._ended_with_final = False     # an unfinished file whose final chunk is there
        self._chunks = self._plain_chunks()

    # -- reading ------------------------------------------------------------------------------
    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` plaintext bytes (all that is left if negative); b"" at the end."""
        if self._failed is not None:
            raise self._failed
        try:
            while size is None or size < 0 or len(self._pending) < size:
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._pending += chunk
        except BaseException as exc:
            self._failed = exc
            raise
        if size is None or size < 0:
            size = len(self._pending)
        out = bytes(self._pending[:size])
        del self._pending[:size]
        return out

    def __iter__(self) -> Iterator[bytes]:
        """The plaintext of each remaining chunk, in order."""
        while chunk := self.read(self.layout.header.chunk_size if self.layout.header else 1):
            yield chunk

    def close(self) -> None:
        """Close the file if this reader opened it. Safe twice."""
        self._cipher = None
        if self._owns and not self._f.closed:
            self._f.close()

    def __enter__(self) -> "DecryptingReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- chunks -------------------------------------------------------------------------------
    def _plain_chunks(self) -> Iterator[bytes]:
        layout = self.layout
        layout.check_finished()
        spans = layout.spans()
        seg = layout.header.segment_size if layout.header else 0
        for index, offset, length in spans:
            data = self._read_at(offset, length)
            last = index == len(spans) - 1
            if layout.finished:
                plain = self._open(index, data, final=last)
                if plain is None:
                    raise self._auth_error(index, offset, length)
                ended = last
            else:
                plain, ended = self._open_unfinished(index, offset, data, last, seg)
                if plain is None:
                    self._end(truncated=True, why=f"the last {length} bytes are an incomplete "
                              f"chunk {index} (cut while it was written)")
                    return
            self.chunks_read += 1
            yield plain
            if ended:
                break
        if layout.finished:
            self._end(truncated=False, why="complete")
        elif self.chunks_read and self._ended_with_final:
            self._end(truncated=False, why="complete, but the end marker was never written "
                      "(cut after the last chunk)")
        else:
            self._end(truncated=True, why="the file ends after a complete chunk, before its "
                      "final chunk" if self.chunks_read else "the file holds no complete chunk")

    def _open_unfinished(self, index: int, offset: int, data: bytes, last: bool,
                         seg: int) -> tuple[bytes | None, bool]:
        """A chunk of a file without end marker: (plaintext or None if it is an incomplete
        last chunk, whether it was the final chunk)."""
        if len(data) == seg:
            plain = self._open(index, data, final=False)
            if plain is not None:
                return plain, False
        if last and len(data) >= TAG_SIZE:
            plain = self._open(index, data, final=True)
            if plain is not None:
                self._ended_with_final = True
                return plain, True
        if self._end_marker_changed(index, offset):
            raise MediaAuthenticationError(
                f"{self.where}: the end marker after the final chunk {index} (the last "
                f"{TRAILER_SIZE} bytes) was changed", chunk=None,
                offset=self.layout.size - TRAILER_SIZE, length=TRAILER_SIZE)
        if last and len(data) < seg:
            return None, False
        raise self._auth_error(index, offset, len(data))

    def _end_marker_changed(self, index: int, offset: int) -> bool:
        """The rest of the file is a final chunk plus 16 bytes that should be its end marker."""
        rest = self.layout.size - offset
        if not TAG_SIZE + TRAILER_SIZE <= rest <= self.layout.header.segment_size + TRAILER_SIZE:
            return False
        return self._open(index, self._read_at(offset, rest - TRAILER_SIZE), final=True) \
            is not None

    def _open(self, index: int, data: bytes, *, final: bool) -> bytes | None:
        """The chunk's plaintext, or None if it does not authenticate as chunk ``index``."""
        header = self.layout.header
        forms = [(index, FLAG_FINAL if final else 0)]
        if index == 0 and not final:
            forms.append((REWRITTEN_HEAD_COUNTER, FLAG_REWRITTEN_HEAD))
        for counter, flags in forms:
            aad = associated_data(self.layout.header_bytes, index, flags, self._name)
            try:
                return self._cipher.decrypt(nonce(header, counter), data, aad)
            except InvalidTag:
                continue
        return None

    def _auth_error(self, index: int, offset: int, length: int) -> MediaAuthenticationError:
        if index == 0:
            why = (f"the file was changed, or it is not {self.name!r} (the name is bound into "
                   "every chunk), or its header was changed")
        else:
            why = "the file was changed there, or chunks were reordered, dropped or swapped"
        start = self.layout.base + offset
        return MediaAuthenticationError(
            f"{self.where}: chunk {index} (bytes {start}..{start + length - 1}) failed "
            f"authentication: {why}", chunk=index, offset=start, length=length)

    def _end(self, *, truncated: bool, why: str) -> None:
        self.truncated = truncated
        self.status = why
        if truncated and not self.allow_truncated:
            raise TruncatedMediaError(
                f"{self.where}: truncated after {self.chunks_read} complete chunks: {why}",
                chunks=self.chunks_read)

    def _read_at(self, offset: int, length: int) -> bytes:
        self._f.seek(self.layout.base + offset)
        data = self._f.read(length)
        if len(data) != length:
            raise MediaAuthenticationError(f"{self.where}: the file shrank while being read",
                                           offset=self.layout.base + offset, length=length)
        return data


def decrypt_file(source: Source, key: SessionKey, name: str, *,
                 allow_truncated: bool = False) -> bytes:
    """The whole plaintext of an encrypted file. A file cut short raises
    :class:`TruncatedMediaError` whose ``plaintext`` holds its complete chunks, unless
    ``allow_truncated`` (then those bytes are returned)."""
    with DecryptingReader(source, key, name, allow_truncated=True) as reader:
        data = reader.read()
        if reader.truncated and not allow_truncated:
            raise TruncatedMediaError(
                f"{reader.where}: truncated after {reader.chunks_read} complete chunks "
                f"({len(data)} bytes readable): {reader.status}",
                plaintext=data, chunks=reader.chunks_read)
    return data

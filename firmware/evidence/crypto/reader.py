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

from firmware.evidence import durable
from firmware.evidence.crypto.errors import (MediaAuthenticationError, TruncatedMediaError,
                                    WrongKeyError)
from firmware.evidence.crypto.layout import Layout, read_layout
from firmware.evidence.crypto.media_format import (END_MAGIC, FLAG_FINAL, FLAG_REWRITTEN_HEAD,
                                          REWRITTEN_HEAD_COUNTER, TAG_SIZE, TRAILER_SIZE,
                                          associated_data, encode_name, nonce)
from firmware.evidence.crypto.session_key import SessionKey

Source = str | os.PathLike | BinaryIO


class DecryptingReader:
    """Reads the plaintext of one encrypted file, chunk by chunk.

    ``source`` is a path or a seekable binary file object (read from its current position to
    its end). ``name`` is the name the file was encrypted under (its path within the session,
    see :func:`~firmware.evidence.crypto.media_format.bound_name`).

    Bytes returned are authentic, but like any stream the file may turn out to be cut short:
    after the last byte :attr:`truncated` says so, and unless ``allow_truncated`` reading past
    the last complete chunk raises :class:`TruncatedMediaError`.
    """

    def __init__(self, source: Source, key: SessionKey, name: str, *,
                 allow_truncated: bool = False) -> None:
        self._owns = isinstance(source, (str, os.PathLike))
        self._f: BinaryIO = (durable.open_reading(source) if self._owns  # type: ignore[arg-type]
                             else source)
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
        self._marker_cut = False           # ... followed by part of an end marker
        self._chunks = self._plain_chunks()

    # -- reading ------------------------------------------------------------------------------
    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` plaintext bytes (all that is left if negative); b"" at the end."""
        if self._failed is not None:
            raise self._failed
        whole = size is None or size < 0
        try:
            if whole:
                parts = [bytes(self._pending), *self._chunks]
                self._pending.clear()
                return b"".join(parts)
            while len(self._pending) < size:
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._pending += chunk
        except BaseException as exc:
            self._failed = exc
            raise
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
        seg = layout.header.segment_size if layout.header else 0
        for index, offset, length in layout.spans():
            data = self._read_at(offset, length)
            last = offset + length >= layout.body_end
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
            layout.check_finished()  # every chunk is authentic: does the marker fit them?
            self._end(truncated=False, why="complete")
        elif self._ended_with_final:
            self._end(truncated=False, why="complete, but the end marker is cut short (cut "
                      "while finishing)" if self._marker_cut else "complete, but the end "
                      "marker was never written (cut after the final chunk)")
        else:
            self._end(truncated=True, why="the file ends after a complete chunk, before its "
                      "final chunk" if self.chunks_read else "the file holds no complete chunk")

    def _open_unfinished(self, index: int, offset: int, data: bytes, last: bool,
                         seg: int) -> tuple[bytes | None, bool]:
        """A chunk of a file without end marker: (its plaintext, or None if it is an
        incomplete last chunk; whether it was the final chunk)."""
        if len(data) == seg:
            plain = self._open(index, data, final=False)
            if plain is not None:
                return plain, False
        if last and len(data) >= TAG_SIZE:
            plain = self._open(index, data, final=True)
            if plain is not None:
                self._ended_with_final = True
                return plain, True
        found = self._final_chunk_before_marker(index, offset)
        if found is not None:
            self._ended_with_final = True
            self._marker_cut = True
            return found, True
        if last and len(data) < seg:
            return None, False
        raise self._auth_error(index, offset, len(data))

    def _final_chunk_before_marker(self, index: int, offset: int) -> bytes | None:
        """Look at the rest of the file from chunk ``index`` for a final chunk followed by
        what is left of an end marker. A marker cut short (a cut while finishing) gives the
        final chunk's plaintext; a changed marker, or bytes after it, are a
        :class:`MediaAuthenticationError`; None if the rest is no final chunk at all."""
        seg = self.layout.header.segment_size
        rest_size = self.layout.size - offset
        rest = self._read_at(offset, min(rest_size, seg + TRAILER_SIZE))
        ends = {rest_size - k for k in range(1, len(END_MAGIC))  # cut inside the magic
                if rest_size - k <= seg and rest.endswith(END_MAGIC[:k])}
        q = rest.find(END_MAGIC, TAG_SIZE)
        while q != -1 and q <= seg:      # a marker, cut in its length or followed by bytes
            ends.add(q)
            q = rest.find(END_MAGIC, q + 1)
        if rest_size - TRAILER_SIZE <= seg:
            ends.add(rest_size - TRAILER_SIZE)  # a whole marker, changed
        ends = {q for q in ends if q >= TAG_SIZE}
        for q in sorted(ends):
            plain = self._open(index, rest[:q], final=True)
            if plain is None:
                continue
            tail = rest_size - q
            at = self.layout.base + offset + q
            if tail < TRAILER_SIZE and rest.startswith(END_MAGIC[:tail], q):
                return plain  # only the end of the marker is missing: the data is whole
            what = ("was changed" if tail == TRAILER_SIZE else
                    f"is followed by {tail - TRAILER_SIZE} appended bytes")
            raise MediaAuthenticationError(
                f"{self.where}: the end marker after the final chunk {index} (bytes "
                f"{at}..{at + TRAILER_SIZE - 1}) {what}", offset=at, length=tail)
        return None

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

"""Encrypting a media file as it is written: the writing side of a spool file, in chunks.

Plaintext is cut into chunks of ``chunk_size`` bytes (64 KiB by default); a chunk is encrypted
and handed to the file as soon as it is full and more data follows, so a power cut loses at most
the chunk being filled (< 64 KiB: about 0.1 s of 5 Mbit/s video, 0.7 s of 48 kHz mono audio) and
a cut file stays decryptable up to its last complete chunk.

``write_at`` (the WAV header written at seal time) works inside the first chunk only: its
plaintext stays in memory until :meth:`EncryptingWriter.finish`. The first chunk is written once
when it fills (so it survives a power cut) and, if ``write_at`` changed it after that, written
again in place at finish under its own nonce (never the same nonce twice).
"""
from __future__ import annotations

import hashlib
import os
from typing import BinaryIO

from firmware.evidence.crypto.errors import MediaFormatError, WriteAtError, WriterClosedError
from firmware.evidence.crypto.media_format import (DEFAULT_CHUNK_SIZE, FLAG_FINAL, FLAG_REWRITTEN_HEAD,
                                          HEADER_SIZE, MAX_CHUNKS, NONCE_PREFIX_SIZE,
                                          REWRITTEN_HEAD_COUNTER, Header, associated_data,
                                          check_chunk_size, encode_name, nonce, pack_trailer)
from firmware.evidence.crypto.session_key import SessionKey

_OPEN, _FINISHED, _ABANDONED, _CLOSED = "open", "finished", "abandoned", "closed"
_BROKEN = "broken by a failed write (abandon it)"


class EncryptingWriter:
    """Writes ``name`` encrypted with ``key`` into ``fileobj`` (binary, opened for writing,
    positioned where the encrypted file starts). Not thread-safe: one writer thread at a time.

    The surface is a spool file's writing side: :meth:`write`, :meth:`flush`, :meth:`write_at`,
    :meth:`finish` (and :meth:`close` / :meth:`abandon`). ``name`` is the file's path within
    its session (``audio-000001.wav``), bound into every chunk: decrypting needs the same name.
    """

    def __init__(self, fileobj: BinaryIO, key: SessionKey, name: str, *,
                 chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        check_chunk_size(chunk_size)
        self.name = name
        self._name = encode_name(name)
        self._f = fileobj
        self._cipher = key.cipher()
        self.header = Header(chunk_size, key.key_id, os.urandom(NONCE_PREFIX_SIZE))
        self._header_bytes = self.header.pack()
        try:
            self._seekable = bool(fileobj.seekable())
        except (AttributeError, OSError, ValueError):
            self._seekable = False
        self._base = fileobj.tell() if self._seekable else 0
        self._hash = hashlib.sha256()
        self._in_order = True        # no byte rewritten: the running hash is the file's hash
        self._head = bytearray()     # chunk 0's plaintext, kept until finish (write_at)
        self._head_written = False   # chunk 0 went to the file (first writing)
        self._head_changed = False   # write_at changed chunk 0 after that
        self._buf = bytearray()      # the chunk being filled, when it is not chunk 0
        self._index = 0              # index of the chunk being filled
        self.plaintext_size = 0      #: plaintext bytes accepted so far
        self.size = 0                #: bytes written to ``fileobj`` so far
        self._completed = False      # finish() wrote the last chunk and the end marker
        self._state = _OPEN
        self._emit(self._header_bytes)

    @property
    def chunk_size(self) -> int:
        return self.header.chunk_size

    @property
    def finished(self) -> bool:
        return self._completed

    @property
    def sha256(self) -> str | None:
        """After :meth:`finish`: SHA-256 (hex) of the bytes this writer wrote, computed as
        they were written, or None when chunk 0 was rewritten in place (hash the file then)."""
        if not self._completed or not self._in_order:
            return None
        return self._hash.hexdigest()

    # -- writing -----------------------------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Append plaintext; returns its length. Complete chunks go to the file at once."""
        self._check_open()
        view = memoryview(data).cast("B")
        size = self.chunk_size
        pos, n = 0, len(view)
        while pos < n:
            current = self._head if self._index == 0 else self._buf
            if len(current) == size:  # full, and more follows: it is not the last chunk
                self._complete_chunk()
                continue
            if self._index > 0 and not self._buf and n - pos > size:
                self._emit_chunk(self._index, self._index, 0, view[pos:pos + size])
                self._next_index()
                pos += size
                continue
            take = min(size - len(current), n - pos)
            current += view[pos:pos + take]
            pos += take
        self.plaintext_size += n
        return n

    def write_at(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """Overwrite plaintext bytes already written, within the first chunk (bytes
        ``0 .. chunk_size - 1``): the header of a WAV file whose sizes are known at the end."""
        self._check_open()
        data = bytes(data)
        limit = min(self.plaintext_size, self.chunk_size)
        if offset < 0 or offset + len(data) > limit:
            raise WriteAtError(
                f"{self.name}: write_at({offset}, {len(data)} bytes) reaches outside bytes "
                f"0..{limit - 1}; an encrypted file can rewrite only bytes already written in "
                f"its first chunk ({self.chunk_size} bytes)")
        if self._head_written and not self._seekable:
            raise WriteAtError(f"{self.name}: the first chunk is written already and the "
                               "output cannot seek back to rewrite it")
        self._head[offset:offset + len(data)] = data
        if self._head_written:
            self._head_changed = True

    def flush(self) -> None:
        """Hand complete chunks to the kernel. The chunk being filled stays in memory (it is
        encrypted only once complete); a power cut loses it."""
        if self._state in (_ABANDONED, _CLOSED):
            raise WriterClosedError(f"{self.name}: flush after the writer was closed")
        self._f.flush()

    def finish(self) -> int:
        """Encrypt the last chunk, rewrite chunk 0 if ``write_at`` changed it, write the end
        marker, flush (no fsync: the caller's). Returns the file's total size in bytes.
        The file object stays open. Safe twice."""
        if self._completed:
            return self.size
        self._check_open()
        if self._index == 0:
            self._emit_chunk(0, 0, FLAG_FINAL, self._head)
        else:
            self._emit_chunk(self._index, self._index, FLAG_FINAL, self._buf)
            if self._head_changed:
                self._rewrite_head()
        self._emit(pack_trailer(self.plaintext_size))
        self._f.flush()
        self._completed = True
        self._state = _FINISHED
        self._drop()
        return self.size

    def close(self) -> int:
        """:meth:`finish` (unless abandoned), then close the file object. Safe twice."""
        if self._state == _CLOSED:
            return self.size
        try:
            if self._state == _OPEN:
                self.finish()
        finally:
            self._state = _CLOSED
            self._drop()
            self._f.close()
        return self.size

    def abandon(self) -> None:
        """Stop without finishing: complete chunks stay in the file (decryptable, reported as
        truncated), the chunk being filled is dropped; close the file object. Safe twice, and
        the way out after a failed write (a full disk)."""
        if self._state in (_ABANDONED, _CLOSED):
            return
        self._state = _ABANDONED
        self._drop()
        try:
            self._f.flush()
        finally:
            self._f.close()

    def __enter__(self) -> "EncryptingWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abandon()

    # -- chunks ------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._state != _OPEN:
            raise WriterClosedError(f"{self.name}: the encrypting writer is {self._state}")

    def _complete_chunk(self) -> None:
        """The chunk being filled is full and more data follows: write it (not final)."""
        if self._index == 0:
            self._emit_chunk(0, 0, 0, self._head)
            self._head_written = True
        else:
            self._emit_chunk(self._index, self._index, 0, self._buf)
            self._buf.clear()
        self._next_index()

    def _next_index(self) -> None:
        if self._index + 1 >= MAX_CHUNKS:
            raise MediaFormatError(f"{self.name}: more than {MAX_CHUNKS} chunks of "
                                   f"{self.chunk_size} bytes; use a larger chunk size")
        self._index += 1

    def _seal(self, index: int, counter: int, flags: int, plaintext) -> bytes:
        aad = associated_data(self._header_bytes, index, flags, self._name)
        return self._cipher.encrypt(nonce(self.header, counter), plaintext, aad)

    def _emit_chunk(self, index: int, counter: int, flags: int, plaintext) -> None:
        self._emit(self._seal(index, counter, flags, plaintext))

    def _rewrite_head(self) -> None:
        sealed = self._seal(0, REWRITTEN_HEAD_COUNTER, FLAG_REWRITTEN_HEAD, self._head)
        self._f.seek(self._base + HEADER_SIZE)
        self._write_all(sealed)
        self._f.seek(self._base + self.size)
        self._in_order = False

    def _emit(self, data: bytes) -> None:
        self._write_all(data)
        self._hash.update(data)
        self.size += len(data)

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                n = self._f.write(view)
                if n is None:
                    raise BlockingIOError(f"{self.name}: the output would block")
                view = view[n:]
        except BaseException:
            self._state = _BROKEN  # part of a chunk may be in the file: never append after it
            raise

    def _drop(self) -> None:
        """Forget the key copy and the plaintext held in memory."""
        self._cipher = None
        for buf in (self._head, self._buf):
            buf[:] = bytes(len(buf))
            buf.clear()

"""Encryption at rest: session media encrypted as it is written, readable only by the insurer.

- :class:`SessionKey` — a fresh AES-256 key per session, only ever in memory;
  :func:`wrap` / :func:`unwrap` seal it to the insurer's X25519 or RSA key
  (``session-key.json``, :mod:`firmware.evidence.crypto.session_files`).
- :class:`EncryptingWriter` — the writing side of a spool file, encrypting in authenticated
  chunks; :class:`DecryptingReader` / :func:`decrypt_file` read it back with the key;
  :func:`inspect` reports chunks and truncation without it.
- docs/encryption.md specifies the format for third parties.
"""
from firmware.evidence.crypto.errors import (CryptoError, KeyForgottenError, KeyUnwrapError,
                                    MediaAuthenticationError, MediaFormatError, MediaNameError,
                                    TruncatedMediaError, WriteAtError, WriterClosedError,
                                    WrongKeyError)
from firmware.evidence.crypto.insurer_keys import (InsurerKeyFiles, InsurerPrivateKey, InsurerPublicKey,
                                          fingerprint, generate_insurer_key,
                                          load_insurer_private_key, load_insurer_public_key)
from firmware.evidence.crypto.layout import MediaReport, inspect, is_encrypted
from firmware.evidence.crypto.media_format import DEFAULT_CHUNK_SIZE, bound_name
from firmware.evidence.crypto.reader import DecryptingReader, decrypt_file
from firmware.evidence.crypto.session_files import (SESSION_KEY_FILE, MediaDecryptor,
                                           read_session_key_file, session_key_json)
from firmware.evidence.crypto.session_key import SessionKey
from firmware.evidence.crypto.wrap import unwrap, wrap
from firmware.evidence.crypto.writer import EncryptingWriter

__all__ = ["CryptoError", "DEFAULT_CHUNK_SIZE", "DecryptingReader", "EncryptingWriter",
           "InsurerKeyFiles", "InsurerPrivateKey", "InsurerPublicKey", "KeyForgottenError",
           "KeyUnwrapError", "MediaAuthenticationError", "MediaDecryptor", "MediaFormatError",
           "MediaNameError", "MediaReport", "SESSION_KEY_FILE", "SessionKey",
           "TruncatedMediaError", "WriteAtError", "WriterClosedError", "WrongKeyError",
           "bound_name", "decrypt_file", "fingerprint", "generate_insurer_key", "inspect",
           "is_encrypted", "load_insurer_private_key", "load_insurer_public_key",
           "read_session_key_file", "session_key_json", "unwrap", "wrap"]

"""Artifacts encrypted at rest: AES-256-GCM in 64 KiB chunks, so a byte range decrypts alone.

File layout: MAGIC, a random 7-byte file nonce, then each chunk's ciphertext followed by its
16-byte tag. Chunk i is sealed with the nonce (file nonce, i, last?): chunks cannot be
reordered, moved between files, or cut off at a chunk boundary without failing to decrypt.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import IO, Any

MAGIC = b"LSAE1"  # localshang artifact, encrypted, version 1
FILE_NONCE = 7
HEADER = len(MAGIC) + FILE_NONCE
CHUNK = 64 * 1024
TAG = 16


class ArtifactDecryptError(Exception):
    """The file is not one we encrypted with this key, or it was altered."""


class ArtifactCipher:
    def __init__(self, key: bytes) -> None:
        # imported here: only deployments that turn encryption on need the package
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._aead: Any = AESGCM(key)

    def encrypt_stream(self, source: IO[bytes], target: IO[bytes]) -> tuple[int, str]:
        """Encrypt all of `source` into `target`; returns the plaintext's (size, sha256)."""
        file_nonce = os.urandom(FILE_NONCE)
        target.write(MAGIC + file_nonce)
        digest, size, index = hashlib.sha256(), 0, 0
        chunk = source.read(CHUNK)
        while True:
            following = source.read(CHUNK) if len(chunk) == CHUNK else b""
            last = not following
            digest.update(chunk)
            size += len(chunk)
            target.write(self._aead.encrypt(_nonce(file_nonce, index, last), chunk, MAGIC))
            if last:
                return size, digest.hexdigest()
            chunk, index = following, index + 1

    def plain_size(self, file_size: int) -> int:
        body = file_size - HEADER
        chunks = max(1, -(-body // (CHUNK + TAG)))
        size = body - chunks * TAG
        if size < 0:
            raise ArtifactDecryptError("file too short to be an encrypted artifact")
        return size

    def read_range(self, file: IO[bytes], start: int, end: int) -> Iterator[bytes]:
        """Plaintext bytes start..end (inclusive) of an encrypted file, a chunk at a time."""
        file.seek(0, os.SEEK_END)
        file_size = file.tell()
        plain = self.plain_size(file_size)
        if start > end:
            return
        if start < 0 or end >= plain:
            raise ValueError(f"range {start}-{end} outside 0-{plain - 1}")
        file.seek(0)
        header = file.read(HEADER)
        if header[: len(MAGIC)] != MAGIC:
            raise ArtifactDecryptError("not an encrypted artifact")
        file_nonce = header[len(MAGIC) :]
        last_index = max(0, -(-plain // CHUNK) - 1)
        for index in range(start // CHUNK, end // CHUNK + 1):
            file.seek(HEADER + index * (CHUNK + TAG))
            sealed = file.read(CHUNK + TAG)
            try:
                chunk = self._aead.decrypt(
                    _nonce(file_nonce, index, index == last_index), sealed, MAGIC
                )
            except Exception as exc:  # cryptography's InvalidTag
                raise ArtifactDecryptError(f"chunk {index} does not decrypt") from exc
            offset = index * CHUNK
            yield chunk[max(start - offset, 0) : end - offset + 1]


def _nonce(file_nonce: bytes, index: int, last: bool) -> bytes:
    return file_nonce + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")

"""A SHA-256 of a whole checkpoint file, kept inside the file: in the zip archive's comment.

Why not the archive's own CRC-32s: they cover the entries' data only. torch.load checks none of
them, and it reads some header fields that zip readers ignore: one flipped bit in an entry's
external attributes (the MS-DOS directory flag) makes it read a tensor as uninitialized memory,
with every CRC intact. The digest covers every byte before the comment, headers included.

The zip format (PKWARE APPNOTE 4.3.16) ends with a 22-byte end-of-central-directory record whose
last two bytes give the length of the comment that follows; torch.save writes no comment. Zip
readers, torch's among them, find the record by scanning back from the end, so a comment is
read as one. Files without the comment (written before it existed) are reported as unsealed.
"""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path
from typing import BinaryIO

END_RECORD = b"PK\x05\x06"  # the end-of-central-directory record's signature
END_RECORD_SIZE = 22
PREFIX = b"sac-sha256:"
COMMENT_SIZE = len(PREFIX) + 64  # the prefix and the hex digest


class SealBroken(ValueError):
    """The file changed after it was sealed (or its end was cut off); one-line message."""


def seal(path: Path) -> None:
    """Write the digest of `path` (a zip archive without a comment) into its comment."""
    with open(path, "r+b") as file:
        size = file.seek(0, os.SEEK_END)
        file.seek(size - END_RECORD_SIZE)
        record = file.read(END_RECORD_SIZE)
        if not record.startswith(END_RECORD) or record[-2:] != b"\0\0":
            raise OSError(f"{path} does not end in a zip end record without a comment")
        comment = PREFIX + _digest(file, size - 2).encode()
        file.seek(size - 2)
        file.write(struct.pack("<H", len(comment)) + comment)


def is_sealed(path: Path) -> bool:
    """True when `path` ends in a digest comment, which `check` then verifies."""
    with open(path, "rb") as file:
        size = file.seek(0, os.SEEK_END)
        if size < END_RECORD_SIZE + COMMENT_SIZE:
            return False
        file.seek(size - COMMENT_SIZE)
        return file.read(len(PREFIX)) == PREFIX


def check(path: Path) -> None:
    """SealBroken unless the digest in the comment is that of the bytes before it."""
    with open(path, "rb") as file:
        size = file.seek(0, os.SEEK_END)
        digested = size - COMMENT_SIZE - 2  # up to the comment's length field
        file.seek(digested - (END_RECORD_SIZE - 2))
        record = file.read(END_RECORD_SIZE + COMMENT_SIZE)
        expected = struct.pack("<H", COMMENT_SIZE)
        if not record.startswith(END_RECORD) or record[END_RECORD_SIZE - 2 : END_RECORD_SIZE] != (
            expected
        ):
            raise SealBroken("its zip end record is damaged")
        if _digest(file, digested).encode() != record[END_RECORD_SIZE + len(PREFIX) :]:
            raise SealBroken("its SHA-256 differs from the one written with it")


def _digest(file: BinaryIO, length: int) -> str:
    """The hex SHA-256 of the first `length` bytes of `file`."""
    file.seek(0)
    digest, remaining = hashlib.sha256(), length
    while remaining > 0:
        chunk = file.read(min(remaining, 1 << 20))
        if not chunk:
            raise SealBroken("the file is shorter than its zip records say")
        digest.update(chunk)
        remaining -= len(chunk)
    return digest.hexdigest()

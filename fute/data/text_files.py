"""Reading text files as UTF-8, with errors that say where the bad byte is.

Python's own decoding error names a position in an internal buffer; a user needs the file,
the line and the byte offset in the file to find the byte with ``xxd`` or an editor. A
UTF-8 byte-order mark (written by Excel and Notepad) is not part of the data: it is dropped.
"""

from __future__ import annotations

import contextlib
import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path

from fute.errors import DataError, FuteError

BOM = "\ufeff"
_GZIP_MAGIC = b"\x1f\x8b"


def _not_utf8(where: str, lineno: int, offset: int, bad: bytes, error: type[FuteError]) -> FuteError:
    return error(f"{where}:{lineno}: not UTF-8 text (byte 0x{bad[0]:02x} at byte offset {offset})")


def iter_text_lines(path: Path, error: type[FuteError] = DataError) -> Iterator[str]:
    """The lines of a UTF-8 text file (gzipped too), ends kept as in ``newline=""`` mode.

    Raises:
        DataError (or ``error``): a line that is not UTF-8, naming file, line and the
            byte offset (in the uncompressed stream for a gzipped file).
    """
    with open(path, "rb") as raw_file:
        # gzip is told by its magic bytes, not the name: --format may name any file.
        gzipped = raw_file.read(2) == _GZIP_MAGIC
        raw_file.seek(0)
        with gzip.GzipFile(fileobj=raw_file) if gzipped else contextlib.nullcontext(raw_file) as f:
            offset = 0
            lineno = 0
            try:
                for lineno, raw in enumerate(f, start=1):
                    try:
                        line = raw.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        raise _not_utf8(
                            str(path), lineno, offset + exc.start, raw[exc.start :], error
                        ) from exc
                    if lineno == 1:
                        line = line.removeprefix(BOM)
                    offset += len(raw)
                    yield line
            except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
                raise error(f"{path}:{lineno + 1}: not a readable gzip file ({exc})") from exc


def decode_utf8(data: bytes, where: str, error: type[FuteError] = DataError) -> str:
    """``data`` decoded as UTF-8 without a leading byte-order mark.

    Raises:
        DataError (or ``error``): naming ``where``, the line and the byte offset.
    """
    try:
        return data.decode("utf-8").removeprefix(BOM)
    except UnicodeDecodeError as exc:
        lineno = data.count(b"\n", 0, exc.start) + 1
        raise _not_utf8(where, lineno, exc.start, data[exc.start :], error) from exc

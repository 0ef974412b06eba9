"""Reading the text files a user names (scenario files, empirical data) without trusting them.

A path may name anything: a directory, a device that never ends (``/dev/zero``), a huge file, a
binary or a secret. Only a regular file under a size limit is read; a UTF-8 byte-order mark
(what spreadsheet programs write for "CSV UTF-8") is accepted; and a message quotes a line of
the file only when it is short and looks like a value someone typed (``excerpt``), so an error
never echoes the contents of an arbitrary file.
"""
from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

SCENARIO_LIMIT_BYTES = 8 * 2**20   # a scenario with inline samples stays far below this
DATA_LIMIT_BYTES = 64 * 2**20      # an empirical file: millions of durations

_TYPED_VALUE = re.compile(r"^[A-Za-z0-9 .,+\-_/]{1,24}$")


class InputFileError(ValueError):
    """A named file cannot be used; the message says why in a few words (no file contents)."""


def read_input_text(path: Path, limit_bytes: int) -> str:
    """The text of the regular file ``path``, at most ``limit_bytes``, UTF-8 with or without a BOM."""
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise InputFileError("not a regular file" + (" (a directory)" if stat.S_ISDIR(info.st_mode) else ""))
            if info.st_size > limit_bytes:
                raise InputFileError(f"{_size_text(info.st_size)}, more than the {_size_text(limit_bytes)} allowed")
            data = handle.read(limit_bytes + 1)
    except IsADirectoryError:
        raise InputFileError("not a regular file (a directory)") from None
    except FileNotFoundError:
        raise InputFileError("No such file") from None
    except OSError as err:
        raise InputFileError(err.strerror or type(err).__name__) from None
    if len(data) > limit_bytes:
        raise InputFileError(f"more than the {_size_text(limit_bytes)} allowed")
    if b"\x00" in data:
        raise InputFileError("not a text file (it holds NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputFileError(f"not UTF-8 text (byte {err.start + 1})") from None


def excerpt(text: str) -> str | None:
    """``text`` quoted for a message if it is short and looks typed (letters, digits, '.', '-', ...); else None."""
    text = text.strip()
    return repr(text) if _TYPED_VALUE.match(text) else None


def _size_text(size: int) -> str:
    return f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size:,} bytes"


class Unreadable:
    """Why a file a section names could not be used: a model's before-validator puts it in place of the
    file's key, and ``file_was_read`` (that key's field check) reports it there, under the right key path."""

    def __init__(self, reason: str):
        self.reason = reason


def file_was_read(value: object) -> object:
    """A file key's field check: raise the reason an ``Unreadable`` carries; pass anything else on."""
    if isinstance(value, Unreadable):
        raise ValueError(value.reason)
    return value


def inline_file(data: object, base_dir: Any, inline_key: str, both: str, read: Callable[[Path], list]) -> object:
    """A model's before-validator for a ``file`` key whose values the resolved scenario carries inline: the file
    (relative to ``base_dir``) is read by ``read`` into ``inline_key``; ``both`` is the message when both keys are
    given. A file that cannot be used becomes an ``Unreadable`` under ``file`` (``file_was_read`` reports it)."""
    if not isinstance(data, dict) or data.get("file") is None:
        return data
    if inline_key in data:
        raise ValueError(both)
    if not isinstance(data["file"], str):
        return data  # the field check reports it
    try:
        values = read(Path(base_dir if base_dir is not None else Path.cwd()) / data["file"])
    except ValueError as err:
        return {**data, "file": Unreadable(str(err))}
    return {**{k: v for k, v in data.items() if k != "file"}, inline_key: values}

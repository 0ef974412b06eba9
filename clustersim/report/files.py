"""Results directories written complete or not at all, and files a reader never sees half-written.

A run writes its files into a fresh hidden directory beside its output directory
(``.<name>.tmp-<pid>-<random>``), fsyncs them, then moves that directory into place with one
rename: a kill at any instant leaves either the previous state or the whole new result, never a
mixture (plus, at most, a hidden directory that the next run into the same parent removes once
the process named by its pid is gone). An exclusive lock (``.<name>.lock`` in the parent, holding
the owner's pid) keeps two runs from writing one directory at once.
"""
from __future__ import annotations

import errno
import fcntl
import os
import re
import secrets
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

from clustersim.errors import ResultsError

# What a clustersim run writes: a directory holding only these may be replaced with --overwrite.
RESULT_FILES = frozenset({
    "summary.json", "replications.csv", "scenario.resolved.toml", "events.parquet", "nodes.parquet", "series.csv",
    "report.html", "report.md", "plots",
    "optimize_checkpoint.csv", "optimize_checkpoint.json", "goodput_vs_interval.png",
    "compare.csv", "compare.json", "search.json",
    "chaos.json", "chaos.csv", "chaos_timeline.csv", "chaos_timeline.png", "control.resolved.toml",
    "treatment.resolved.toml",
})
# ``.<target>.tmp-<pid>-<random>`` (being written) and ``.<target>.old-<pid>-<random>`` (being replaced)
_STAGING = re.compile(r"^\.(?P<target>.+)\.(?P<kind>tmp|old)-(?P<pid>\d+)-[A-Za-z0-9_]+$")
_LOCK = re.compile(r"^\.(?P<target>.+)\.lock$")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_synced(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` (inside a staging directory) and fsync it."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        with open(path, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as err:
        raise ResultsError(f"{path}: cannot write: {err.strerror or err}") from None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    """Is process ``pid`` running (as far as this process can tell)?"""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lock_path(parent: Path, target: str) -> Path:
    return parent / f".{target}.lock"


def _try_lock(path: Path) -> int | None:
    """The descriptor of lock file ``path`` locked exclusively, or None when another process holds it.

    A holder deletes its lock file before releasing it, so a lock taken on a file that is no longer
    at ``path`` is worthless: it is dropped and taken again on the file now there.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return None
            raise
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def _holder_pid(path: Path) -> str:
    """The pid written in a lock file, as text ("unknown" when it cannot be read yet)."""
    try:
        text = path.read_text().strip()
    except OSError:
        text = ""
    return text if text.isdigit() else "unknown"


def _release(fd: int, path: Path) -> None:
    """Delete a lock file this process holds, then release it."""
    try:
        path.unlink(missing_ok=True)
    finally:
        os.close(fd)


def _settle(parent: Path, staging: Path, target: str) -> None:
    """Remove a dead run's staging directory; one moved aside by an overwrite goes back if nothing replaced it."""
    match = _STAGING.match(staging.name)
    if match and match["kind"] == "old" and not (parent / target).exists():
        os.rename(staging, parent / target)  # the kill came between the two renames: back to the previous state
    else:
        shutil.rmtree(staging, ignore_errors=True)


def clean_stale(parent: Path, own_target: str) -> None:
    """Remove what dead runs left in ``parent``: staging directories and lock files nobody holds.

    The caller holds ``own_target``'s lock, so that target's staging directories of other pids are
    dead runs'; another target's are touched only when their pid is gone and their lock is free.
    """
    try:
        names = os.listdir(parent)
    except OSError:
        return
    by_target: dict[str, list[Path]] = {}
    for name in names:
        match = _STAGING.match(name)
        dead = match and int(match["pid"]) != os.getpid() and (
            match["target"] == own_target or not _alive(int(match["pid"])))
        if match and dead:
            by_target.setdefault(match["target"], []).append(parent / name)
    for target in {m["target"] for m in map(_LOCK.match, names) if m and m["target"] != own_target}:
        by_target.setdefault(target, [])
    for target, stale in by_target.items():
        if target == own_target:
            for staging in stale:
                _settle(parent, staging, target)
            continue
        lock = _lock_path(parent, target)
        if not stale and not lock.exists():
            continue
        try:
            fd = _try_lock(lock)
        except OSError:
            continue
        if fd is None:
            continue  # a live run holds it
        try:
            for staging in stale:
                _settle(parent, staging, target)
        finally:
            _release(fd, lock)


class ResultsDirectory:
    """An output directory that a run fills complete or not at all.

    Entering it (before anything is simulated) takes the target's lock, refuses a non-empty target
    unless ``overwrite``, removes what dead runs left beside it and creates the staging directory
    ``path`` to write the files into; ``commit()`` moves that directory into place. Leaving it without
    a commit deletes the staging directory; leaving it always releases the lock.
    """

    def __init__(self, out: Path, overwrite: bool = False, flag: str = "--out") -> None:
        self.display = str(out)
        self.target = Path(os.path.abspath(out))
        self.parent = self.target.parent
        self.overwrite = overwrite
        self.flag = flag
        self.path = self.target  # the staging directory, once entered
        self._lock_fd: int | None = None
        self._committed = False

    def _refuse(self, reason: str) -> ResultsError:
        return ResultsError(f"{self.flag} {self.display}: {reason}")

    def __enter__(self) -> Self:
        name = self.target.name
        if not name:
            raise self._refuse("not a directory to write results into")
        try:
            self.parent.mkdir(parents=True, exist_ok=True)
            lock = _lock_path(self.parent, name)
            fd = _try_lock(lock)
        except OSError as err:
            raise ResultsError(f"{self.display}: cannot write results there: {err.strerror or err}") from None
        if fd is None:
            raise self._refuse(f"another clustersim run is writing there (pid {_holder_pid(lock)})")
        self._lock_fd = fd
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            clean_stale(self.parent, name)
            self._check_target()
            self.path = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-{os.getpid()}-", dir=self.parent))
            os.chmod(self.path, 0o777 & ~_umask())
        except BaseException as err:
            self._unlock()
            if isinstance(err, OSError):
                raise ResultsError(f"{self.display}: cannot write results there: {err.strerror or err}") from None
            raise
        return self

    def _check_target(self) -> None:
        """Refuse a target that is a file, or a non-empty directory without --overwrite (or not of results)."""
        if not self.target.exists():
            return
        if not self.target.is_dir():
            raise self._refuse("is a file, not a directory")
        held = sorted(os.listdir(self.target), key=lambda n: (n != "summary.json", n))
        if not held:
            return
        shown = " ".join(held[:3]) + (" ..." if len(held) > 3 else "")
        if not self.overwrite:
            raise self._refuse(f"already holds results ({shown}); pass --overwrite to replace them, "
                               "or choose another directory")
        foreign = [n for n in held if n not in RESULT_FILES]
        if foreign:
            raise self._refuse(f"holds files that are not clustersim results ({' '.join(foreign[:3])}); "
                               "--overwrite replaces only a results directory")

    def commit(self) -> None:
        """fsync the staged files and move the staging directory into place with one rename."""
        try:
            _fsync_dir(self.path)
            if self.target.is_dir() and any(self.target.iterdir()):
                # Replacing old results (--overwrite). What a reader sees at each instant:
                # before the first rename, the old results whole; between the two renames, no directory
                # (the old one waits aside as .<name>.old-*, and the next run puts it back if we die here);
                # after the second, the new results whole; the old ones are then deleted out of sight.
                aside = self.parent / f".{self.target.name}.old-{os.getpid()}-{secrets.token_hex(4)}"
                os.rename(self.target, aside)
                os.rename(self.path, self.target)
                self._committed = True
                _fsync_dir(self.parent)
                shutil.rmtree(aside, ignore_errors=True)
            else:
                # No directory (or an empty one, which rename replaces): before the rename a reader sees
                # the previous state, after it the whole new result.
                os.rename(self.path, self.target)
                self._committed = True
                _fsync_dir(self.parent)
        except OSError as err:
            raise ResultsError(f"{self.display}: cannot write results there: {err.strerror or err}") from None
        self.path = self.target

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            fd, self._lock_fd = self._lock_fd, None
            _release(fd, _lock_path(self.parent, self.target.name))

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        try:
            if not self._committed and self.path != self.target:
                shutil.rmtree(self.path, ignore_errors=True)
        finally:
            self._unlock()


def write_atomic(path: Path, data: bytes | str, sync_dir: bool = True) -> None:
    """Write one file that a reader (or a later run after a kill) sees whole or not at all: a hidden
    ``.<name>.tmp-<pid>-<random>`` beside it, fsynced, renamed over it, the directory fsynced (unless
    ``sync_dir`` is False: the caller fsyncs it once after several files, with ``fsync_directory``)."""
    path = Path(path)
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        write_synced(temp, data)
        os.replace(temp, path)
        if sync_dir:
            _fsync_dir(path.parent)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def fsync_directory(directory: Path) -> None:
    """Make the renames into ``directory`` durable (after ``write_atomic(..., sync_dir=False)``)."""
    _fsync_dir(directory)


def remove_stale_temporaries(directory: Path) -> None:
    """Delete the ``write_atomic`` temporaries of dead processes in ``directory``."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        match = _STAGING.match(name)
        if match and match["kind"] == "tmp" and not _alive(int(match["pid"])) and os.path.isfile(directory / name):
            (directory / name).unlink(missing_ok=True)


class DirectoryLock:
    """The exclusive lock of a directory that a run fills in place (a sweep store): ``.<name>.lock`` beside it,
    holding the owner's pid, as ``ResultsDirectory`` takes it."""

    def __init__(self, target: Path, flag: str = "--out") -> None:
        self.display = str(target)
        self.target = Path(os.path.abspath(target))
        self.flag = flag
        self._fd: int | None = None

    def __enter__(self) -> Self:
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            lock = _lock_path(self.target.parent, self.target.name)
            fd = _try_lock(lock)
        except OSError as err:
            raise ResultsError(f"{self.display}: cannot write results there: {err.strerror or err}") from None
        if fd is None:
            raise ResultsError(f"{self.flag} {self.display}: another clustersim run is writing there "
                               f"(pid {_holder_pid(lock)})")
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            _release(fd, _lock_path(self.target.parent, self.target.name))

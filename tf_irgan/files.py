"""Writing outputs safely: refuse to replace what exists unless asked, and never leave a
half-written file or folder under its final name.

Every writer in the package goes through `atomic_path`: it yields a hidden `.NAME.partial`
path beside the target, and only when the block finishes is that renamed onto the target (a
file with `os.replace`, a folder by removing the old one first). An interrupted run leaves at
most a `.partial` beside the target, which the next run replaces.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path

from tf_irgan.errors import UserError


def check_outputs(paths, overwrite: bool = False, folders: bool = False) -> None:
    """Refuse, before any work is done, outputs that exist (without `overwrite`), that are a
    folder where a file is wanted (or the reverse), or that are named twice."""
    seen = set()
    for path in paths:
        if path is None:
            continue
        path = Path(path)
        if not folders and path.is_dir():
            raise UserError(f"{path}: is a folder; give a file name for the output")
        if folders and path.exists() and not path.is_dir():
            raise UserError(f"{path}: exists and is not a folder; choose another output folder")
        if path.exists() and not overwrite:
            raise UserError(f"{path}: already exists; pass --overwrite or choose another name")
        if path.resolve() in seen:
            raise UserError(f"{path}: given for two different outputs; choose distinct names")
        seen.add(path.resolve())


def check_not_inputs(outputs, inputs) -> None:
    """Refuse an output that is one of the inputs (the same path, or the same file through a
    link), with or without --overwrite: an input is never an output."""
    import os
    by_path, by_file = {}, {}
    for source in (Path(p) for p in inputs if p is not None):
        by_path[source.resolve()] = source
        if source.exists():
            info = os.stat(source)
            by_file[info.st_dev, info.st_ino] = source
    for output in (Path(p) for p in outputs if p is not None):
        source = by_path.get(output.resolve())
        if source is None and output.exists():
            info = os.stat(output)
            source = by_file.get((info.st_dev, info.st_ino))
        if source is not None:
            raise UserError(f"{output}: is also an input ({source}); write the result under "
                            "another name (not even --overwrite replaces an input)")


LOCK_FILE = ".tf-irgan.lock"


@contextlib.contextmanager
def exclusive(target, folder: bool = True):
    """Hold an exclusive lock on `target` (a folder, or a file's name in its folder) for the
    block: a second writer is refused at once, naming the holder's process id. The lock is the
    operating system's (flock), so a process that dies, even by kill -9, holds none; the lock
    file is removed when the block ends (one left by a killed process is simply taken over).
    On a file system without locks (some network mounts) the block runs unlocked."""
    import errno
    import fcntl
    target = Path(target)
    if folder and target.exists() and not target.is_dir():
        raise UserError(f"{target}: exists and is not a folder; choose another output folder")
    lock_path = target / LOCK_FILE if folder else target.with_name(f".{target.name}.lock")
    # Folders made only to hold the lock go again if nothing else was written into them (a
    # refused or failed command leaves no trace).
    made = [d for d in (lock_path.parent, *lock_path.parent.parents) if not d.exists()]
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        handle = open(lock_path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                handle = None  # no locks here: run unlocked rather than refuse every command
                break
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            raise UserError(f"{target}: in use by another tf-irgan process (pid {holder}); wait "
                            "for it to finish or choose another output") from None
        if _same_file(handle, lock_path):  # not removed by its last holder after we opened it
            break
        handle.close()
    try:
        if handle is not None:
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
        yield
    finally:
        if handle is not None:
            if _same_file(handle, lock_path):  # ours still (the folder was not replaced)
                with contextlib.suppress(OSError):
                    lock_path.unlink()
            handle.close()
        for folder_made in made:  # innermost first
            with contextlib.suppress(OSError):
                folder_made.rmdir()


def _same_file(handle, path: Path) -> bool:
    try:
        return os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
    except OSError:
        return False


@contextlib.contextmanager
def atomic_path(path, overwrite: bool = False, folder: bool = False):
    """Yield a temporary path beside `path`; on success move it onto `path`.

    `folder=True` yields an empty folder to fill; otherwise a file path to write.
    """
    path = Path(path)
    check_outputs([path], overwrite, folders=folder)
    partial = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove(partial)
        if folder:
            partial.mkdir()
        yield partial
        if folder:
            remove(path)
        os.replace(partial, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            remove(partial)
        why = write_failure(error) if isinstance(error, Exception) else None
        if why:   # named by the target (a write nested in this one names its partial path)
            raise WriteFailed(path, why) from None
        raise


class WriteFailed(UserError):
    """A write the disk or the target's permissions stopped; nothing of it was left."""

    def __init__(self, path, why: str):
        super().__init__(f"{path}: not written: {why}; nothing of it was left there (free space "
                         "or choose another place, then run the command again)")
        self.why = why


# Raised by the OS, h5py (its message carries the errno) or TensorFlow's file writers (theirs
# carries the OS's words): each says the same two things its own way.
_FULL_DISK = (errno.ENOSPC, errno.EDQUOT)
_FULL_DISK_WORDS = ("No space left on device", "Disk quota exceeded", "errno = 28")
_NO_WRITE = (errno.EROFS, errno.EACCES, errno.EPERM)
_NO_WRITE_WORDS = ("Read-only file system", "Permission denied", "errno = 30", "errno = 13")


def write_failure(error: BaseException) -> str | None:
    """Why a write failed, when the disk or the target's permissions are why; else None."""
    if isinstance(error, WriteFailed):
        return error.why
    code, text = getattr(error, "errno", None), str(error)
    if code in _FULL_DISK or any(words in text for words in _FULL_DISK_WORDS):
        return "the disk is full"
    if code in _NO_WRITE or any(words in text for words in _NO_WRITE_WORDS):
        return "the place cannot be written (a read-only disk or no permission)"
    return None


def write_bytes(path, data: bytes, overwrite: bool = False) -> Path:
    with atomic_path(path, overwrite) as partial:
        partial.write_bytes(data)
    return Path(path)


def write_text(path, text: str, overwrite: bool = False) -> Path:
    return write_bytes(path, text.encode("utf-8"), overwrite)


def remove(path: Path) -> None:
    """A file, link or folder gone (nothing if it is not there)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()

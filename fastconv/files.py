"""Files written whole or not at all: :func:`atomic_write`, used by ``saving`` (models, weights) and ``datasets``.

What lives here: the one way fastconv writes a file that someone may be
reading, or that a crash must not leave half-written. The bytes go to a
temporary file beside the target (``.NAME.<12 hex digits>.tmp``), which is
flushed to disk and renamed over the target in one step, so the target is
always either the old file or the new one.

- A symbolic link is written through: the file it points to is replaced (the
  temporary goes beside that file, on its filesystem) and the link stays.
- An existing file keeps its permission bits (``chmod``); a new one gets
  ``0o666`` less the umask, as ``open()`` gives. The owner, group and other
  hard links are not carried over: the new file is a new inode, as with any
  rename.
- Temporaries that a killed writer (``kill -9``, power loss) left behind are
  removed by the next write of the same target. A writer holds an exclusive
  ``flock`` on its temporary until the rename is done, and the kernel releases
  it when the process dies however it dies, so a temporary is removed only when
  nobody holds its lock and it is at least :data:`STALE_AFTER_S` old (the age
  covers the instant between creating a temporary and locking it). Two processes
  saving the same file at once therefore never delete each other's temporary:
  the last rename wins, whole. Where a lock cannot be taken or tested (some
  network filesystems), a temporary is left alone. Windows has no ``flock``,
  but it refuses to delete a file another process has open, which protects a
  live writer the same way.
- Errors name the target, not the temporary: saving into a missing or
  read-only folder raises ``FileNotFoundError`` or ``PermissionError`` saying
  which file could not be saved and why. A folder or a device (``/dev/null``)
  where the file should be is refused, since the rename would replace it.

What does not live here: file formats (``saving``, ``datasets``).
"""

import contextlib
import errno
import os
import re
import stat
import threading
import time
import uuid

try:
    import fcntl
except ImportError:  # Windows: no flock (see the module docstring)
    fcntl = None

STALE_AFTER_S = 60.0
"""A leftover temporary younger than this is kept even when no process holds its lock."""

_TEMPORARY = r"\.{name}\.[0-9a-f]{{12}}\.tmp"

# This process's temporaries being written. A lock taken twice by one process does not always conflict (on
# network filesystems flock is emulated with per-process fcntl locks), so the cleaner skips these by name.
_writing = set()
_writing_lock = threading.Lock()


@contextlib.contextmanager
def atomic_write(filepath, overwrite=True):
    """Yield a binary file; when the ``with`` block ends without an error, it replaces ``filepath`` in one step.

    If the block raises (or the process dies), ``filepath`` is left as it was
    and the temporary is removed (by the next write of ``filepath``, after a
    kill). See the module docstring for links, permissions and leftovers.

    Parameters
    ----------
    filepath : str or os.PathLike
        The file to write (a link to it is written through).
    overwrite : bool
        With ``False``, an existing file raises ``FileExistsError``.

    Raises
    ------
    FileExistsError
        ``overwrite=False`` and ``filepath`` exists.
    OSError
        The file could not be written (a missing or read-only folder, a
        folder or a device where the file should be, a loop of links); the
        message names ``filepath``.

    Examples
    --------
    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "notes.txt")
    ...     with atomic_write(path) as file:
    ...         _ = file.write(b"all or nothing")
    ...     with open(path, "rb") as file:
    ...         print(file.read(), os.listdir(folder))
    b'all or nothing' ['notes.txt']
    """
    filepath = os.fspath(filepath)
    target = os.path.realpath(filepath)
    shown = f"{filepath} (a link to {target})" if os.path.islink(filepath) else filepath
    if os.path.islink(target):  # realpath gives up inside a loop of links
        raise OSError(errno.ELOOP, f"Cannot save to {shown}: too many levels of symbolic links")
    if not overwrite and os.path.exists(target):
        raise FileExistsError(f"File {filepath} already exists and overwrite=False. Pass overwrite=True to "
                              "replace it.")
    try:
        existing = os.stat(target)
    except OSError:
        existing = None  # a new file: 0o666 less the umask, from os.open below
    if existing is not None and not stat.S_ISREG(existing.st_mode):  # a rename would replace a folder or device
        folder = stat.S_ISDIR(existing.st_mode)
        raise OSError(errno.EISDIR if folder else errno.EEXIST,
                      f"Cannot save to {shown}: it is {'a folder' if folder else 'not a regular file'}")
    directory, name = os.path.split(target)
    remove_stale_temporaries(target)
    temporary = os.path.join(directory, f".{name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as error:
        raise _naming_target(error, shown, directory) from error
    with _writing_lock:
        _writing.add(temporary)
    try:
        file = os.fdopen(descriptor, "wb")
    except BaseException:
        os.close(descriptor)
        _discard(temporary)
        raise
    try:
        with file:
            if fcntl is not None:
                with contextlib.suppress(OSError):  # no locks here: the cleaner cannot test them either
                    fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            if existing is not None:
                os.chmod(temporary, stat.S_IMODE(existing.st_mode))
            yield file
            try:
                file.flush()
                os.fsync(file.fileno())
                if fcntl is None:
                    file.close()  # Windows cannot rename a file that is open
                os.replace(temporary, target)  # still locked: a cleaner never sees it unlocked before the rename
            except OSError as error:
                raise _naming_target(error, shown, directory) from error
    except BaseException:
        _discard(temporary)
        raise
    with _writing_lock:
        _writing.discard(temporary)
    with contextlib.suppress(OSError):  # make the rename itself durable; not possible on every platform
        directory_descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(directory_descriptor)
        finally:
            os.close(directory_descriptor)


def remove_stale_temporaries(filepath):
    """Remove the temporaries of ``filepath`` (already resolved) that dead writers left: unlocked and old enough.

    Returns the paths removed. Anything that cannot be checked is kept.
    """
    directory, name = os.path.split(os.fspath(filepath))
    pattern = re.compile(_TEMPORARY.format(name=re.escape(name)))
    try:
        entries = [entry for entry in os.scandir(directory or ".") if pattern.fullmatch(entry.name)]
    except OSError:
        return []
    removed = []
    for entry in entries:
        with _writing_lock:
            ours = entry.path in _writing
        if ours:
            continue
        with contextlib.suppress(OSError):
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(info.st_mode) and time.time() - info.st_mtime >= STALE_AFTER_S \
                    and _remove_if_abandoned(entry.path):
                removed.append(entry.path)
    return removed


def _remove_if_abandoned(path):
    """Delete ``path`` if no process holds its lock; ``True`` when it was deleted."""
    if fcntl is None:
        os.unlink(path)  # Windows refuses while its writer has it open
        return True
    flags = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, os.O_RDWR | flags)  # NFS grants an exclusive flock only to a writer
    except PermissionError:
        descriptor = os.open(path, os.O_RDONLY | flags)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # its writer is alive
        if not os.path.samestat(os.fstat(descriptor), os.stat(path, follow_symlinks=False)):
            return False  # renamed into place meanwhile, and the name reused
        os.unlink(path)
        return True
    finally:
        os.close(descriptor)


def _discard(temporary):
    with _writing_lock:
        _writing.discard(temporary)
    with contextlib.suppress(OSError):
        os.unlink(temporary)


def _naming_target(error, shown, directory):
    """``error`` (about the temporary) said about the file being saved; the same ``OSError`` subclass."""
    if error.errno == errno.ENOENT and not os.path.isdir(directory):
        reason = f"the folder {directory} does not exist"
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        reason = f"the folder {directory} is not writable ({error.strerror})"
    elif error.errno == errno.ENOTDIR:
        reason = f"{directory} is not a folder"
    else:
        reason = error.strerror or str(error)
    return OSError(error.errno, f"Cannot save to {shown}: {reason}")

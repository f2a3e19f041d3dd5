"""Files written so that an interrupted write never leaves a damaged one."""

import os


def check_writable_path(path):
    """Raise, before any work, where ``path`` cannot become a file: its
    folder does not exist, or it names a folder. Returns ``path`` as a
    string.

    >>> check_writable_path("/no/such/folder/model.safetensors")
    Traceback (most recent call last):
    ...
    FileNotFoundError: There is no folder '/no/such/folder' to write 'model.safetensors' in; create it first (os.makedirs) or pass a path in an existing folder.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise IsADirectoryError(
            f"{path!r} is a folder; pass the path of a file to write, e.g. "
            f"{os.path.join(path, 'model.safetensors')!r}."
        )
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"There is no folder {folder!r} to write {os.path.basename(path)!r} in; "
            "create it first (os.makedirs) or pass a path in an existing folder."
        )
    return path


def make_folder(path, parameter):
    """Create the folder ``path`` (given as ``parameter``) where it is
    missing, before any work, or raise with the fix: it names a file, or
    it cannot be created here.

    >>> make_folder(__file__, "checkpoint_dir")
    Traceback (most recent call last):
    ...
    NotADirectoryError: checkpoint_dir=... is a file; pass a folder (created if missing).
    """
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise NotADirectoryError(
            f"{parameter}={path!r} is a file; pass a folder (created if missing)."
        )
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise type(exc)(
            f"{parameter}={path!r} cannot be created ({exc.strerror or exc}); pass "
            "a folder that can be written to here."
        ) from exc
    return path


def write_atomically(path, write):
    """Call ``write(temporary_path)``, then rename the result over ``path``.

    The temporary file sits beside ``path`` (so the rename is atomic on one
    file system) and is removed if ``write`` fails. Returns ``path`` as a
    string.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklstm._files import write_atomically
    >>> path = os.path.join(tempfile.mkdtemp(), "note.txt")
    >>> _ = write_atomically(path, lambda tmp: open(tmp, "w").write("done"))
    >>> open(path).read(), os.listdir(os.path.dirname(path))
    ('done', ['note.txt'])
    """
    path = os.fspath(path)  # its callers check it first (check_writable_path)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path

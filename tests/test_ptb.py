import hashlib
from pathlib import Path

import pytest

from sklstm.datasets import _ptb, get_data_home, load_ptb

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "ptb"
needs_ptb = pytest.mark.skipif(not SHARED.is_dir(), reason="Penn Treebank not found in ../shared/data/ptb")


def test_data_home_default_and_env(tmp_path, monkeypatch):
    monkeypatch.setenv("SKLSTM_DATA", str(tmp_path / "env"))
    assert get_data_home() == tmp_path / "env"
    assert get_data_home(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("SKLSTM_DATA")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert get_data_home() == tmp_path / "sklstm_data"


def test_missing_files_say_where_to_put_them(tmp_path):
    with pytest.raises(OSError, match=f"not in {tmp_path / 'ptb'}. Put ptb.train.txt"):
        load_ptb(tmp_path, download_if_missing=False)


def test_failed_download_says_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setattr(_ptb, "PTB_URL", (tmp_path / "nowhere").as_uri() + "/")
    with pytest.raises(OSError, match="Downloading it failed"):
        load_ptb(tmp_path)


@needs_ptb
def test_download_and_checksums(tmp_path, monkeypatch):
    # "download" from a local copy through the same code path
    monkeypatch.setattr(_ptb, "PTB_URL", SHARED.as_uri() + "/")
    train, valid, test = load_ptb(tmp_path)
    assert (len(train), len(valid), len(test)) == (42068, 3370, 3761)
    assert sum(len(s.split()) for s in train) == 887521
    for name, checksum in _ptb.PTB_FILES.items():
        data = (tmp_path / "ptb" / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == checksum
    # a damaged file is detected
    with open(tmp_path / "ptb" / "ptb.valid.txt", "a") as f:
        f.write("extra\n")
    with pytest.raises(ValueError, match="damaged or not Mikolov's version"):
        load_ptb(tmp_path)

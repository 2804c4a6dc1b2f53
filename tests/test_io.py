import pytest

from kdedge.errors import ConfigError
from kdedge.io import atomic_dir, atomic_path, prepare_out_dir, write_json


def test_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path):
    target = tmp_path / "model.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.bin"]


def test_atomic_dir_appears_whole_or_not_at_all(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "ckpt") as tmp:
            (tmp / "a").write_text("x")
            raise RuntimeError
    assert list(tmp_path.iterdir()) == []
    with atomic_dir(tmp_path / "ckpt") as tmp:
        (tmp / "a").write_text("x")
    assert (tmp_path / "ckpt" / "a").read_text() == "x"


def test_prepare_out_dir_refuses_non_empty_folder(tmp_path):
    write_json(tmp_path / "x.json", {"a": 1})
    with pytest.raises(ConfigError, match="--out"):
        prepare_out_dir(tmp_path, overwrite=False)
    assert prepare_out_dir(tmp_path, overwrite=True) == tmp_path
    assert prepare_out_dir(tmp_path / "new", overwrite=False) == tmp_path / "new"

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


def _folder(path, tag):
    path.mkdir()
    (path / "model.bin").write_text(tag)
    (path / "config.json").write_text(tag)


def test_replace_dir_never_shows_a_missing_or_mixed_folder(tmp_path):
    """A reader polling the output while it is replaced 200 times always finds it, and (reading through one
    handle on the folder, as a loader that opens the folder once does) never a mix of two versions."""
    import os
    import threading

    from kdedge.io import replace_dir

    dst = tmp_path / "export"
    _folder(dst, "0")
    seen, stop = [], threading.Event()

    def reader():
        while not stop.is_set():
            try:
                fd = os.open(dst, os.O_RDONLY | os.O_DIRECTORY)
            except FileNotFoundError:
                seen.append("missing")
                continue
            try:
                parts = []
                for name in ("model.bin", "config.json"):
                    f = os.open(name, os.O_RDONLY, dir_fd=fd)
                    parts.append(os.read(f, 64))
                    os.close(f)
                seen.append("ok" if parts[0] == parts[1] else "mixed")
            except FileNotFoundError:  # the version this reader opened was swapped out and deleted: fine
                seen.append("deleted under the reader")
            finally:
                os.close(fd)

    t = threading.Thread(target=reader)
    t.start()
    try:
        for i in range(1, 201):
            _folder(tmp_path / f".new{i}", str(i))
            replace_dir(tmp_path / f".new{i}", dst)
    finally:
        stop.set()
        t.join()
    assert (dst / "model.bin").read_text() == "200" and sorted(p.name for p in tmp_path.iterdir()) == ["export"]
    assert seen.count("ok") > 0 and "missing" not in seen and "mixed" not in seen, set(seen)


def test_replace_dir_keeps_a_whole_folder_when_it_dies_midway(tmp_path, monkeypatch):
    """Fault injection: the clean-up after the swap fails (Linux exchange), or the second rename fails where
    folders cannot be exchanged: a complete folder is on disk either way, never nothing."""
    import os
    import shutil

    from kdedge import io

    dst = tmp_path / "export"
    _folder(dst, "old")
    _folder(tmp_path / ".new", "new")
    monkeypatch.setattr(shutil, "rmtree", lambda *a, **k: (_ for _ in ()).throw(OSError("disk gone")))
    with pytest.raises(OSError, match="disk gone"):
        io.replace_dir(tmp_path / ".new", dst)
    assert (dst / "model.bin").read_text() == "new"  # the swap happened; only the old copy was left behind
    monkeypatch.undo()

    monkeypatch.setattr(io, "_exchange", lambda a, b: False)
    _folder(tmp_path / ".newer", "newer")
    real = os.replace
    calls = []

    def failing_second(a, b):
        calls.append(b)
        if len(calls) == 2:
            raise OSError("killed")
        return real(a, b)

    monkeypatch.setattr(os, "replace", failing_second)
    with pytest.raises(OSError, match="killed"):
        io.replace_dir(tmp_path / ".newer", dst)
    monkeypatch.undo()
    kept = [p for p in tmp_path.rglob("model.bin") if p.read_text() == "new"]
    assert len(kept) == 1 and (kept[0].parent / "config.json").read_text() == "new"  # the old one, whole, aside


def _make(path, **files):
    path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (path / name).write_text(text)
    return path


def test_overwrite_keeps_the_old_output_until_the_new_one_is_complete(tmp_path):
    from kdedge.io import output_folder, partial_path

    out = _make(tmp_path / "out", old="1")
    with output_folder(out, overwrite=True) as target:
        assert target == partial_path(out) and (out / "old").read_text() == "1"  # the old output is untouched
        (target / "new").write_text("2")
    assert sorted(p.name for p in out.iterdir()) == ["new"] and not partial_path(out).exists()
    with pytest.raises(RuntimeError):
        with output_folder(out, overwrite=True) as target:
            (target / "half").write_text("x")
            raise RuntimeError("disk full")
    assert sorted(p.name for p in out.iterdir()) == ["new"] and not partial_path(out).exists()
    with output_folder(tmp_path / "fresh", overwrite=True) as target:  # nothing to keep: written in place
        assert target == tmp_path / "fresh"


def test_resume_continues_an_interrupted_replacement(tmp_path):
    from kdedge.io import output_folder, partial_path

    out = _make(tmp_path / "out", old="1")
    with pytest.raises(KeyboardInterrupt):
        with output_folder(out, overwrite=True, keep_on_error="_checkpoints") as target:
            _make(target / "_checkpoints", step="3")
            raise KeyboardInterrupt
    assert (partial_path(out) / "_checkpoints" / "step").read_text() == "3" and (out / "old").is_file()
    with output_folder(out, overwrite=False, resume=True) as target:
        assert target == partial_path(out) and (target / "_checkpoints" / "step").read_text() == "3"
        (target / "done").write_text("y")
    assert sorted(p.name for p in out.iterdir()) == ["_checkpoints", "done"] and not partial_path(out).exists()
    with output_folder(out, overwrite=False, resume=True) as target:  # no replacement pending: out itself
        assert target == out

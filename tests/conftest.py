"""Shared fixtures: tiny real data, a tiny real BERT teacher, and one tiny pipeline run (helpers: tests/support.py)."""

from __future__ import annotations

import kdedge  # noqa: F401  (TF_USE_LEGACY_KERAS before any TensorFlow import)
import pytest

from tests.support import build_tiny_teacher, tiny_flags, write_sst2


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    write_sst2(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_teacher_init(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_bert") / "ckpt"
    build_tiny_teacher(folder)
    return folder


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory, tiny_data_dir, tiny_teacher_init):
    """A whole tiny `kdedge pipeline` run (every stage, through the CLI), shared by the tests."""
    from kdedge.cli import main

    root = tmp_path_factory.mktemp("pipeline")
    out = root / "run"
    main(["pipeline", "--out", str(out)] + tiny_flags(tiny_data_dir, tiny_teacher_init, root / "cache"))
    return out

import pytest

from kdedge import layout
from kdedge.errors import StageInputError


def test_require_names_the_missing_files_and_the_command_that_makes_them(tmp_path):
    with pytest.raises(StageInputError, match=r"folder not found \(make it with `kdedge data`\)"):
        layout.require(tmp_path / "nope", "data", layout.TRAIN)
    (tmp_path / layout.TRAIN).write_text("")
    with pytest.raises(StageInputError, match=r"missing eval.jsonl, config.json \(make it with `kdedge data`\)"):
        layout.require(tmp_path, "data", layout.TRAIN, layout.EVAL, layout.CONFIG)
    assert layout.require(tmp_path, "data", layout.TRAIN) == tmp_path


def test_a_folder_is_complete_once_its_config_is_written(tmp_path):
    assert not layout.is_complete(tmp_path)
    (tmp_path / layout.CONFIG).write_text("{}")
    assert layout.is_complete(tmp_path)


def test_file_names():
    assert layout.student_tflite("int8") == "student_int8.tflite"
    assert layout.variant_tflite("ptq") == "variant_ptq.tflite"
    assert layout.variant_tokenizer("ptq") == "tokenizers/ptq.json"
    assert layout.TEACHER_MODEL_CONFIG == "model/config.json"
    assert layout.STAGES == ("data", "teacher", "student", "distill", "export", "bench")

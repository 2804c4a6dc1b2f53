"""Flags are generated from the stage configs: every field has help, old spellings still work, hidden."""

import dataclasses

import click
import pytest
from click.testing import CliRunner

from kdedge.cli import cli
from kdedge.errors import ConfigError
from kdedge.measure.device.config import DeviceConfig
from kdedge.options import cli_fields, comma_ints, comma_list
from kdedge.stages.bench import BenchConfig
from kdedge.stages.compress import CompressConfig
from kdedge.stages.data import DataConfig
from kdedge.stages.distill import DistillConfig
from kdedge.stages.export import ExportConfig
from kdedge.stages.student import StudentConfig
from kdedge.stages.teacher import TeacherConfig

CONFIGS = (DataConfig, TeacherConfig, StudentConfig, DistillConfig, CompressConfig, ExportConfig, BenchConfig,
           DeviceConfig)


@pytest.mark.parametrize("cls", CONFIGS)
def test_every_field_of_every_stage_config_carries_its_help(cls):
    for f in dataclasses.fields(cls):
        assert f.metadata.get("help"), f"{cls.__name__}.{f.name} has no help text"


def _help(*command):
    r = CliRunner().invoke(cli, [*command, "--help"])
    assert r.exit_code == 0, r.output
    return r.output


@pytest.mark.parametrize("command, cls", [
    ("data", DataConfig), ("teacher", TeacherConfig), ("student", StudentConfig), ("distill", DistillConfig),
    ("compress", CompressConfig), ("export", ExportConfig), ("bench", BenchConfig), ("bench", DeviceConfig)])
def test_each_command_offers_every_flag_field_with_the_field_help(command, cls):
    text = " ".join(_help(command).split())  # click wraps help lines
    for f in cli_fields(cls):
        flag = f.metadata["flag"] or f"--{f.name.replace('_', '-')}"
        assert flag in text, f"{command}: {flag}"
        assert " ".join(f.metadata["help"].split())[:40] in text, f"{command}: help of {flag}"


def test_old_spellings_are_hidden_from_help():
    assert "--init" not in _help("teacher") and "--teacher " in _help("teacher")
    for command, old, new in (("distill", "--student ", "--student-dir"), ("export", "--distill ", "--distill-dir"),
                              ("export", "--compress ", "--compress-dir"), ("bench", "--export ", "--export-dir")):
        text = _help(command)
        assert new in text and old not in text, (command, old)


@pytest.mark.parametrize("old, new", [("--student", "--student-dir"), ("--init", "--teacher")])
def test_old_spellings_still_work(tmp_path, old, new):
    # Both spellings reach the same check: a folder that does not exist is named by the new flag.
    if old == "--init":
        r = CliRunner().invoke(cli, ["teacher", "--data", str(tmp_path), old, str(tmp_path / "nope"),
                                     "--out", str(tmp_path / "o")])
        assert isinstance(r.exception, ConfigError) and "--teacher" in str(r.exception)
        return
    (tmp_path / "d").mkdir()
    for flag in (old, new):
        r = CliRunner().invoke(cli, ["distill", "--data", str(tmp_path / "d"), "--teacher-dir", str(tmp_path / "d"),
                                     flag, str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
        assert isinstance(r.exception, ConfigError) and f"{new} {tmp_path / 'nope'}: folder not found" in str(
            r.exception), r.output
    assert not (tmp_path / "o").exists()


def test_one_comma_list_parser():
    assert comma_list(" a, b,,c ") == ["a", "b", "c"] == comma_list(("a", " b", "c"))
    assert comma_list("") == [] == comma_list(None)
    assert comma_ints("1, 2", "--threads") == [1, 2]
    with pytest.raises(ConfigError, match="--threads"):
        comma_ints("1,two", "--threads")
    # The configs read lists the same way, from a flag string or a tuple.
    assert ExportConfig(modes="int8, float32").modes == ("int8", "float32")
    assert CompressConfig(variants="ptq,qat").variants == ("ptq", "qat")
    assert BenchConfig(threads="1,2", lengths="8,max").lengths == (8, "max")


def test_bool_flags_are_on_off_pairs():
    assert any(isinstance(p, click.Option) and p.opts == ["--baseline"] and p.secondary_opts == ["--no-baseline"]
               for p in cli.commands["distill"].params)


def test_pipeline_help_states_every_per_dataset_setting():
    from kdedge.pipeline import DATASET_DEFAULTS

    text = " ".join(_help("pipeline").split())
    for dataset, stages in DATASET_DEFAULTS.items():
        assert dataset in text, dataset
        for settings in stages.values():
            for value in settings.values():
                shown = f"{value:g}".replace("e-0", "e-") if isinstance(value, float) else str(value)
                assert shown in text, (dataset, value)

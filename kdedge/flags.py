"""Click options made from the stage configs' fields, and the checks every command shares.

:func:`options` turns each flag field of a config dataclass (:func:`kdedge.options.setting`)
into a click option -- its help, default and type from the field -- and :func:`build`
turns the parsed values back into the dataclass. Old flag spellings become hidden
options that fill the same field. :func:`folder_option` / :func:`folder` are the
input-folder flags of the stage commands.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from kdedge.errors import ConfigError
from kdedge.io import output_folder
from kdedge.options import cli_fields, flag_name

ALIAS = "__alias"  # suffix of the parameter a hidden old spelling fills


def _fields(cls, exclude=()) -> list[dataclasses.Field]:
    return [f for f in cli_fields(cls) if f.name not in exclude]


def _click_type(f: dataclasses.Field):
    meta = f.metadata
    if meta["choices"]:
        return click.Choice(list(meta["choices"]))
    if meta["type"] is not None:
        return meta["type"]
    return str if isinstance(f.default, tuple) else type(f.default)


def options(cls, prefix: str = "", exclude=()):
    """Click options for the flag fields of the dataclass ``cls`` (help and defaults from its fields)."""

    def decorate(fn):
        for f in reversed(_fields(cls, exclude)):
            meta, dest = f.metadata, f"{prefix.replace('-', '_')}{f.name}"
            flag = meta["flag"] if meta["flag"] and not prefix else flag_name(f.name, prefix)
            default = ",".join(map(str, f.default)) if isinstance(f.default, tuple) else f.default
            if isinstance(f.default, bool):  # an on/off pair; None when neither is given
                fn = click.option(f"{flag}/--no-{flag[2:]}", dest, default=None,
                                  help=f"{meta['help']} [default: {'on' if f.default else 'off'}]")(fn)
            else:
                fn = click.option(flag, dest, type=_click_type(f), default=None,
                                  help=f"{meta['help']} [default: {default}]")(fn)
            for alias in meta["aliases"] if not prefix else ():
                fn = click.option(alias, dest + ALIAS, type=_click_type(f), default=None, hidden=True)(fn)
        return fn
    return decorate


def build(cls, kwargs: dict, prefix: str = "", exclude=(), **fixed):
    """The dataclass ``cls`` from the given flags (unset flags keep the defaults; ``fixed`` sets fields)."""
    values = dict(fixed)
    for f in _fields(cls, exclude):
        dest = f"{prefix.replace('-', '_')}{f.name}"
        v = kwargs.get(dest)
        if v is None:
            v = kwargs.get(dest + ALIAS)
        if v is not None:
            values[f.name] = v
    return cls(**values)


def folder_option(flag: str, dest: str, help: str, aliases: tuple[str, ...] = ()):
    """An input-folder flag, with hidden old spellings; required-ness is checked by :func:`folder`."""

    def decorate(fn):
        for alias in aliases:
            fn = click.option(alias, dest + ALIAS, hidden=True)(fn)
        return click.option(flag, dest, help=help)(fn)
    return decorate


def folder(kwargs: dict, dest: str, flag: str, required: bool = True) -> Path | None:
    """The folder given by ``flag`` (or an old spelling of it); ConfigError if missing or not a folder."""
    value, old_spelling = kwargs.pop(dest, None), kwargs.pop(dest + ALIAS, None)
    value = value or old_spelling
    if value is None:
        if required:
            raise ConfigError(f"missing {flag}")
        return None
    return input_dir(value, flag)


def input_dir(path: str, flag: str) -> Path:
    p = Path(path)
    if not p.is_dir():
        raise ConfigError(f"{flag} {path}: folder not found")
    return p


def fresh_out(out: str, overwrite: bool, resume: bool = False, keep_on_error: str | None = None):
    """``with fresh_out(out, overwrite) as folder:`` -- check ``--out`` (raises before anything is written) and
    yield the folder to write into; with --overwrite the previous output is replaced only once the new one is
    complete (:func:`kdedge.io.output_folder`)."""
    if overwrite and resume:
        raise ConfigError("--overwrite and --resume exclude each other")
    return output_folder(out, overwrite, resume, keep_on_error)


out_option = click.option("--out", required=True, help="Output folder.")
overwrite_option = click.option("--overwrite", is_flag=True, help="Replace an existing output folder (only once "
                                "the new output is complete: until then the old one stays as it was).")
seed_option = click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
data_option = click.option("--data", "data_dir", required=True, help="A `kdedge data` output folder.")
teacher_dir_option = folder_option("--teacher-dir", "teacher_dir", "A `kdedge teacher` output folder.")
student_dir_option = folder_option("--student-dir", "student_dir", "A `kdedge student` output folder.  [required]",
                                   aliases=("--student",))
distill_dir_option = folder_option("--distill-dir", "distill_dir", "A `kdedge distill` output folder.  [required]",
                                   aliases=("--distill",))

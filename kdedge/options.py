"""Stage settings as dataclass fields that carry their own flag help.

Every stage config (``DataConfig``, ``TeacherConfig``, ...) declares each
setting once, with :func:`setting`: its default, the ``--help`` line of its
flag, and where it is not obvious from the default, the flag's type or
choices. ``kdedge.cli`` builds the click options from these fields, so a
flag's text lives in one place; a comment beside a field says *why* its default
is what it is.

:func:`comma_list` is the one parser of comma-separated flag values
(``--modes float32,int8``, ``--threads 1,2,4``, ``--variants a,b``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable

from kdedge.errors import ConfigError


def setting(default: Any, help: str, *, type: type | None = None, choices: Iterable[str] | None = None,
            cli: bool = True, flag: str | None = None, aliases: tuple[str, ...] = ()) -> Any:
    """A dataclass field for one stage setting.

    Args:
        default: the default value (immutable: tuples, not lists).
        help: the flag's ``--help`` text (the default is appended by the CLI).
        type: the flag's value type when the default does not show it (a ``None`` default).
        choices: the allowed values (a ``click.Choice``).
        cli: False for a field that is not a flag of its own (set by another flag).
        flag: the flag's name when it is not ``--<field-name>`` (``init`` is ``--teacher``).
        aliases: old flag spellings that still work, hidden from ``--help``.
    """
    meta = {"help": help, "type": type, "choices": tuple(choices) if choices else None, "cli": cli,
            "flag": flag, "aliases": tuple(aliases)}
    return dataclasses.field(default=default, metadata=meta)


def cli_fields(cls) -> list[dataclasses.Field]:
    """The fields of a stage config that are flags, in declaration order."""
    return [f for f in dataclasses.fields(cls) if f.metadata.get("cli")]


def comma_list(value) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``; a list or tuple is returned as a list of stripped strings."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [str(v).strip() for v in items if str(v).strip()]


def comma_ints(value, flag: str) -> list[int]:
    """:func:`comma_list` of integers.

    Raises:
        ConfigError: an item is not an integer; the message names ``flag``.
    """
    try:
        return [int(v) for v in comma_list(value)]
    except ValueError:
        raise ConfigError(f"{flag} must be comma-separated integers, got {value!r}") from None


def flag_name(field: str, prefix: str = "") -> str:
    """``max_len`` -> ``--max-len`` (``--teacher-max-len`` with prefix ``teacher-``)."""
    return f"--{prefix}{field.replace('_', '-')}"

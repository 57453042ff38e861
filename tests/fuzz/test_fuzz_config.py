"""The configuration from an operator's hand: whatever the file or the parsed document holds, loading fails only with
ConfigError, and each of its problem lines starts with the key path (or the file) it is about."""

from __future__ import annotations

import re
import tempfile
import typing
from pathlib import Path
from typing import Any

from hypothesis import event, example, given
from hypothesis import strategies as st
from pydantic import BaseModel

from gateway.config import ConfigError, FaxgateConfig, load_config, parse_config
from tests.fuzz.mutate import mutated


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The section model a field holds, itself or in a list or an optional."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        model = _model_of(arg)
        if model is not None:
            return model
    return None


def _keys(model: type[BaseModel]) -> dict[str, type[BaseModel] | None]:
    return {name: _model_of(field.annotation) for name, field in model.model_fields.items()}


_SCALARS = st.one_of(
    st.text(max_size=12), st.sampled_from(["${HOME}", "${FAXGATE_FUZZ_UNSET}", "10m", "1x", "+1900*", "[", "(?P<",
                                           "Mon-Fri 08:00-18:00", "08:00-18:00", "25:00-99:99", "US", "ZZ", "auto",
                                           "0.0.0.0/0", "::1/200", "postgresql://x", "re:(", "fax@x", "simulated"]),
    st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True), st.booleans(),
    st.datetimes(), st.dates(), st.times(),
)


def _value(model: type[BaseModel] | None, depth: int) -> st.SearchStrategy[Any]:
    """A value for a key: a table of the model's own keys (and a stray one), or any TOML value."""
    anything = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3)
                            | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=4)
    if model is None or depth > 2:
        return anything
    table = _table(model, depth + 1)
    return st.one_of(table, st.lists(table, max_size=3), anything)


def _table(model: type[BaseModel], depth: int) -> st.SearchStrategy[dict[str, Any]]:
    keys = _keys(model)
    names = st.sampled_from(sorted(keys)) | st.text(max_size=8)
    return st.dictionaries(names, st.deferred(lambda: st.one_of(*[_value(m, depth) for m in {None, *keys.values()}])),
                           max_size=4).flatmap(
        lambda table: st.fixed_dictionaries({key: _value(keys.get(key), depth) for key in table}))


def _names_a_key_path(problem: str, top_keys: set[str]) -> bool:
    path, separator, reason = problem.partition(": ")
    return bool(separator and reason) and any(
        path == key or path.startswith((f"{key}.", f"{key}[")) for key in top_keys)


@given(_table(FaxgateConfig, 0))
@example({"devices": [{"name": "a"}, {"name": "a"}]})
def test_parsed_documents_validate_or_name_every_problem(data: dict[str, Any]) -> None:
    try:
        parse_config(data)
    except ConfigError as error:
        event(f"ConfigError: {min(len(error.problems), 3)}+ problems")
        assert error.problems
        for problem in error.problems:
            assert _names_a_key_path(problem, set(data) | {"devices"}), problem
        return
    event("valid")


_LINES = st.one_of(
    st.sampled_from(["[smtp]", "[server]", "[[devices]]", "[[inbound.rules]]", "[numbers]", "[outbound]",
                     "[[outbound.groups]]", "[storage]", "[logging]", "[a.b", "[smtp]\n[smtp]"]),
    st.builds(lambda key, value: f"{key} = {value}",
              st.sampled_from(["name", "listen", "body", "data_dir", "max_size", "provider", "url", "level",
                               "signature_cuts", "default_country", "hours", "match", "x", "'q'", '"a.b"', "a.b"]),
              st.sampled_from(['"x"', "1", "-1", "1e400", "true", "[1, 'a']", "{a = 1}", "1979-05-27T07:32:00Z",
                               '"${HOME}"', "'''a\nb'''", '"\\u0000"', "nan", "inf", "0x10", "[", '"', '"(?P<"'])),
    st.text(max_size=30),
)
_TOML = st.lists(_LINES, max_size=12).map(lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass"))
_GOOD = Path(__file__).parents[2] / "config.example.toml"


@given(st.one_of(_TOML, mutated(st.just(_GOOD.read_bytes()), max_edits=6), st.binary(max_size=200)))
@example(b"\x80 faxgate configuration\n")  # not UTF-8: UnicodeDecodeError escaped load_config
def test_config_files_load_or_name_every_problem(text: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "faxgate.toml"
        path.write_bytes(text)
        try:
            load_config(path)
        except ConfigError as error:
            event("ConfigError")
            assert error.problems
            for problem in error.problems:
                assert problem.startswith(f"{path}: ") or re.match(r"^[^\s:][^:]*: .", problem), problem
            return
        event("valid")


def test_helpers_see_the_sections() -> None:
    """The strategies build tables from the models' own keys: a renamed model would leave them fuzzing nothing."""
    assert {"smtp", "devices", "inbound"} <= set(_keys(FaxgateConfig))
    assert _keys(FaxgateConfig)["devices"] is not None

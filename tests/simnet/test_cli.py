"""`faxgate simline`: the layout file and the run command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from modem.simnet.cli import simline
from modem.simnet.layout import LayoutError, parse_layout


def test_builtin_layout_has_the_documented_numbers() -> None:
    printed = CliRunner().invoke(simline, ["layout"])
    assert printed.exit_code == 0
    layout = parse_layout(printed.output)
    assert [(m.name, m.number, str(m.pty)) for m in layout.modems] == [
        ("sim0", "5551000", "faxgate-data/tty/sim0"),
        ("sim1", "5551001", "faxgate-data/tty/sim1"),
    ]
    remotes = layout.remotes
    assert remotes["5550100"].ecm and "T.6" in remotes["5550100"].compressions
    assert remotes["5550101"].busy
    assert remotes["5550102"].never_answer
    assert remotes["5550103"].busy_first_calls == 2
    assert (remotes["5550104"].modems, remotes["5550104"].ecm) == (("V.27ter",), False)


def test_layout_rejects_unknown_keys() -> None:
    with pytest.raises(LayoutError, match="answer_after"):
        parse_layout('[[remote]]\nnumber = "1"\nanswer_after = 2\n')
    with pytest.raises(LayoutError, match=r"V\.34"):
        parse_layout('[[remote]]\nnumber = "1"\nmodems = ["V.34"]\n')


def test_run_serves_the_configured_ptys_and_cleans_up(tmp_path: Path) -> None:
    config = tmp_path / "line.toml"
    link = tmp_path / "tty" / "fax0"
    config.write_text(
        f'[[modem]]\nname = "fax0"\nnumber = "5552000"\npty = "{link}"\n[[remote]]\nnumber = "5550100"\nbusy = true\n'
    )
    result = CliRunner().invoke(
        simline, ["run", "--config", str(config), "--seconds", "0.5", "--data-dir", str(tmp_path / "data")]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"modem fax0 number 5552000 on {link} -> /dev/pts/")
    assert lines[1] == "remote 5550100: busy; V.17/V.29/V.27ter, 1D/2D/T.6, ECM"
    assert set(json.loads(lines[-1])) == {"cpu_percent_of_one_core", "wall_s", "late_ticks"}
    assert not link.exists()

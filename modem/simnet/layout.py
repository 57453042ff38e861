"""Which modems and remote fax machines a simulated line has: the built-in demo layout, or a TOML file."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modem.simnet.network import SimNetwork
from modem.simnet.spec import RemoteFaxSpec

DEFAULT_LAYOUT = """\
# faxgate simulated telephone line (faxgate simline run --config FILE)
[network]
delay_ms = 60            # one-way line delay
ring_interval_s = 3.0    # time between RINGs
no_answer_timeout_s = 45 # a caller gives up after this
speed = 1.0              # 1 = real time; at most 4 with real fax programs

[[modem]]                # faxgate's soft-modems, each on a pty (symlink to the slave)
name = "sim0"
number = "5551000"
pty = "./faxgate-data/tty/sim0"

[[modem]]
name = "sim1"
number = "5551001"
pty = "./faxgate-data/tty/sim1"

[[remote]]               # answers after 2 rings: V.17 14400, ECM, T.6
number = "5550100"
ident = "+1 555 0100"
modems = ["V.17", "V.29", "V.27ter"]
compressions = ["1D", "2D", "T.6"]
ecm = true

[[remote]]
number = "5550101"
ident = "+1 555 0101"
busy = true

[[remote]]
number = "5550102"
ident = "+1 555 0102"
never_answer = true

[[remote]]               # busy for the first two calls, then answers
number = "5550103"
ident = "+1 555 0103"
busy_first_calls = 2

[[remote]]               # a slow old machine: V.27ter 4800 only, no ECM, 1D/2D
number = "5550104"
ident = "+1 555 0104"
modems = ["V.27ter"]
compressions = ["1D", "2D"]
ecm = false
"""


class LayoutError(ValueError):
    """The simulated line's TOML file is not valid."""


@dataclass
class ModemLayout:
    """A soft-modem: name, number, pty symlink path."""

    name: str
    number: str
    pty: Path
    xonxoff: bool = False
    """Send XOFF/XON to the program on the pty when the modem's buffer fills (pitfall 8)."""


@dataclass
class Layout:
    """Everything ``simline run`` sets up."""

    delay_ms: float = 60.0
    ring_interval_s: float = 3.0
    no_answer_timeout_s: float = 45.0
    speed: float = 1.0
    modems: list[ModemLayout] = field(default_factory=list)
    remotes: dict[str, RemoteFaxSpec] = field(default_factory=dict)

    def build(self, workdir: Path | None = None) -> SimNetwork:
        """A network with these modems and remote machines."""
        network = SimNetwork(
            delay_ms=self.delay_ms,
            ring_interval_s=self.ring_interval_s,
            no_answer_timeout_s=self.no_answer_timeout_s,
            workdir=workdir,
        )
        for modem in self.modems:
            network.add_modem(modem.name, modem.number)
        for number, spec in self.remotes.items():
            network.add_remote_fax(number, spec)
        return network


_SPEC_FIELDS = {f.name for f in dataclasses.fields(RemoteFaxSpec)}
_NETWORK_KEYS = {"delay_ms", "ring_interval_s", "no_answer_timeout_s", "speed"}


def parse_layout(text: str, base: Path | None = None) -> Layout:
    """Read a layout from TOML text; relative pty paths are taken from ``base`` (default: as given)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LayoutError(f"not valid TOML: {exc}") from exc
    network = data.get("network", {})
    unknown = set(network) - _NETWORK_KEYS
    if unknown:
        raise LayoutError(f"unknown [network] keys: {', '.join(sorted(unknown))}")
    layout = Layout()
    for key, value in network.items():
        setattr(layout, key, float(value))
    for entry in data.get("modem", []):
        try:
            pty = Path(entry["pty"])
            modem = ModemLayout(str(entry["name"]), str(entry["number"]), _under(base, pty))
        except KeyError as exc:
            raise LayoutError(f"[[modem]] needs name, number and pty (missing {exc})") from exc
        modem.xonxoff = bool(entry.get("xonxoff", False))
        unknown = set(entry) - {"name", "number", "pty", "xonxoff"}
        if unknown:
            raise LayoutError(f"unknown [[modem]] keys: {', '.join(sorted(unknown))}")
        layout.modems.append(modem)
    for entry in data.get("remote", []):
        layout.remotes[str(_required(entry, "number"))] = _remote_spec(entry)
    return layout


def load_layout(path: str | Path) -> Layout:
    """Read a layout file; relative pty paths are relative to the current directory."""
    return parse_layout(Path(path).read_text(encoding="utf-8"))


def default_layout() -> Layout:
    """The demo layout (see DEFAULT_LAYOUT)."""
    return parse_layout(DEFAULT_LAYOUT)


def _under(base: Path | None, path: Path) -> Path:
    return path if base is None or path.is_absolute() else base / path


def _required(entry: dict[str, Any], key: str) -> Any:
    if key not in entry:
        raise LayoutError(f"[[remote]] needs {key}")
    return entry[key]


def _remote_spec(entry: dict[str, Any]) -> RemoteFaxSpec:
    options = {key: value for key, value in entry.items() if key != "number"}
    unknown = set(options) - _SPEC_FIELDS
    if unknown:
        raise LayoutError(f"unknown [[remote]] keys: {', '.join(sorted(unknown))}")
    for key in ("modems", "compressions"):
        if key in options:
            options[key] = tuple(options[key])
    spec = RemoteFaxSpec(**options)
    if not spec.ident:
        spec.ident = str(entry["number"])
    bad_modems = set(spec.modems) - {"V.17", "V.29", "V.27ter"}
    bad_compressions = set(spec.compressions) - {"1D", "2D", "T.6"}
    if bad_modems or bad_compressions:
        raise LayoutError(f"unknown modems/compressions: {sorted(bad_modems | bad_compressions)}")
    return spec

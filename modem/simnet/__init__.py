"""A simulated telephone network on spandsp: soft-modems for faxgate and remote fax machines on numbers.

See README.md in this folder for the API, the built-in layout and the behaviours.
"""

from modem.simnet.clock import VirtualClock
from modem.simnet.endpoints import RemoteFax
from modem.simnet.network import SimNetwork
from modem.simnet.port import SimModemPort
from modem.simnet.spec import Impairment, RemoteCallRecord, RemoteFaxSpec

__all__ = [
    "Impairment",
    "RemoteCallRecord",
    "RemoteFax",
    "RemoteFaxSpec",
    "SimModemPort",
    "SimNetwork",
    "VirtualClock",
]

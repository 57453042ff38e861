"""T.30 timers (clause 5.4.3.1), in seconds of the port's clock."""

from __future__ import annotations

T1 = 35.0
"""Time to identify the far end: how long a caller keeps listening for DIS, or an answerer repeats DIS."""
T2 = 6.0
"""How long a receiver waits for the next command (DCS, page carrier, post-page command)."""
T3 = 10.0
"""Procedure-interrupt alert time (operator intervention); unused: no operator at a gateway."""
T4 = 3.0
"""How long a sender waits for a response before repeating its command (3 s +/- 15 %)."""
T5 = 60.0
"""How long an ECM sender keeps asking RR while the receiver answers RNR."""

COMMAND_REPEATS = 3
"""A command that gets no response is sent at most this many times (T.30 5.3.2)."""
SWITCH_SILENCE_CS = 7
"""75 ms +/- 20 ms of silence between turning the line around (AT+FTS/AT+FRS in 10 ms units)."""

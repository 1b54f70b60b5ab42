"""What the paper reports, as data: the targets a reproduction is compared with (notebooks 05, 08).

Luo, Ewert & Dixon (IJCAI 2022), Fig. 3 (dMelodies, six seeds per box, the factorised and the
full local encoder pooled), read from the box plots by eye (± 0.05); the book's protocol page
(§5) prints the same values. The paper gives no numbers in its text, so these are medians as
drawn, not as computed.
"""

from __future__ import annotations

#: method -> median pre-swap instrument F1 (DSAE: the middle of the 0.93–0.95 it shows)
PRE_SWAP_F1: dict[str, float] = {"dsae": 0.94, "dsae-f": 1.0, "ts-dsae-noreg": 1.0, "ts-dsae": 1.0}

#: method -> z size -> median post-global-swap instrument F1
POST_GLOBAL_F1: dict[str, dict[int, float]] = {
    "dsae": {8: 0.05, 16: 0.05, 32: 0.05},
    "dsae-f": {8: 0.92, 16: 0.2, 32: 1.0},
    "ts-dsae-noreg": {8: 1.0, 16: 0.45, 32: 0.55},
    "ts-dsae": {8: 1.0, 16: 1.0, 32: 1.0},
}

#: method -> how the six seeds spread in the paper's box plots
SPREAD: dict[str, str] = {"dsae": "collapsed", "dsae-f": "wide", "ts-dsae-noreg": "wide", "ts-dsae": "tight"}

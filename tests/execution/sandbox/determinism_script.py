"""Run a fixed contract and calls; print a digest of every observable outcome (run under various hash seeds)."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sandbox_helpers import ALICE, BOB, TOKEN, make_chain

from gusu.codec import encode

SOURCE = """
from gusu_contract import Map, Array, method, view, emit, event, sm3, encode
index = Map("index")
log = Array("log")
Seen = event("Seen", "word", "count")

@method
def tally(words: list[str]) -> list[str]:
    counts = {}
    for word in words:
        counts[word] = counts.get(word, 0) + 1
    order = []
    for word, count in counts.items():
        index.set(word, count)
        emit(Seen, word, count)
        order.append(word)
    log.push(sm3(encode(order)))
    return sorted(order) + order
"""


def main() -> None:
    outcomes: list[object] = []
    chain = make_chain(SOURCE)
    words = ["pear", "apple", "fig", "apple", "kiwi", "date", "fig", "plum", "yuzu", "lime", "pear"]
    for round_number in range(3):
        result, context, meter = chain.call_raw("tally", [words[round_number:]])
        outcomes.append([result.return_value, result.steps_used, meter.get_used()])
        outcomes.append([[event.name, event.data] for event in context.get_events()])
    token = make_chain(TOKEN)
    token.call("mint", ALICE, 10**6)
    result, _, meter = token.call_raw("transfer", [BOB, 12345])
    outcomes.append([result.steps_used, meter.get_used()])
    outcomes.append([list(item) for item in sorted(chain.state.items()) + sorted(token.state.items())])
    print(hashlib.sha256(encode(outcomes)).hexdigest(), len(chain.state))


if __name__ == "__main__":
    main()

"""Re-check the campaign's `spam` runs under the current checkers (issue 7's campaign, docs/bft.md).

The first 50,000 runs of the issue-7 campaign were checked with a first, too tight allowance for empty
blocks that a spammer wakes. The runs themselves are deterministic and unchanged by the checker (same
trace digests), so re-running exactly those seeds (seed % 14 == the index of `spam`, n = 4 and 7) with the
final checkers gives their final verdicts. Usage, from the repository root:

    PYTHONPATH=src python scripts/campaign_recheck_spam.py START STOP OUT.json
"""

import json
import sys
import time
from multiprocessing import Pool

from gusu.eval.simulation.campaign import run_seed
from gusu.eval.simulation.scenarios import SCENARIO_NAMES

SPAM = SCENARIO_NAMES.index("spam")


def task(item):
    seed, nodes = item
    r = run_seed(seed, "spam", nodes)
    return {
        "seed": seed,
        "nodes": nodes,
        "violations": list(r.violations),
        "safety": list(r.safety_violations),
        "liveness": list(r.liveness_violations),
        "memory": list(r.memory_violations),
        "idle": list(r.idle_violations),
        "liveness_ms": r.liveness_ms,
        "digest": r.digest,
    }


if __name__ == "__main__":
    start, stop, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    items = [(seed, n) for seed in range(start, stop) if seed % len(SCENARIO_NAMES) == SPAM for n in (4, 7)]
    t = time.time()
    with Pool(2) as pool:
        results = pool.map(task, items, chunksize=4)
    with open(out, "w") as handle:
        json.dump(
            {
                "start": start,
                "stop": stop,
                "runs": len(results),
                "seconds": time.time() - t,
                "failed": [r for r in results if r["violations"]],
                "digests": {f"{r['seed']}/{r['nodes']}": r["digest"] for r in results},
            },
            handle,
        )
    print(len(results), "runs", round(time.time() - t, 1), "s", sum(1 for r in results if r["violations"]), "failed")

"""The contract developer kit: an in-memory test chain, contract templates, and what `gusu contract` uses.

* `DevChain` (gusu.devkit.harness): the node's executor over an in-memory
  state, with named funded accounts, deploy-from-file, calls returning
  receipts with decoded values and events, block height and time control,
  and `expect_revert` / `assert_reverted` for failures;
* `gusu.devkit.templates`: starting points for contracts (`gusu contract new
  NAME --template KIND`), each a contract and its passing test.

It sits on the top layer (beside cli): it runs the executor in-process, which
the SDK may not.
"""

from gusu.devkit.harness import DevAccount, DevChain, Result, assert_reverted, read_source

__all__ = ["DevAccount", "DevChain", "Result", "assert_reverted", "read_source"]

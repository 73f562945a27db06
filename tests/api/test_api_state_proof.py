"""gusu_getStateProof and GET /v1/state/{contract}/{key}/proof: parameters checked, answers the same on both."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from api_helpers import Client, error_of, result_of, rpc, run_api
from fake_node import FakeNode

from gusu.errors import NotFoundError
from gusu.ledger.jsonview import state_proof_from_json
from gusu.ledger.smt import EMPTY_ROOT, StateProof
from gusu.ledger.stateproof import STATE_PROOF_KEY_BYTES_MAX, CertifiedStateProof
from gusu.ledger.types import ZERO_HASH, Address, BlockHeader, Hash, Height


@dataclass
class ProvingNode(FakeNode):
    """Answers every state proof with the absence of the key in an empty state at the asked height."""

    proof_queries: list[tuple[str, bytes, Height | None]] = field(default_factory=list)
    tip: int = 5

    def get_state_proof(self, contract: str, key: bytes, height: Height | None = None) -> CertifiedStateProof:
        self.proof_queries.append((contract, key, height))
        at = self.tip if height is None else height
        if at > self.tip:
            raise NotFoundError(f"block {at} is not committed yet (the tip is {self.tip})")
        header = BlockHeader(
            chain_id="api-proofs",
            height=Height(at),
            parent_hash=ZERO_HASH,
            timestamp_ms=1,
            proposer=Address(b"\x01" * 20),
            transactions_root=ZERO_HASH,
            receipts_root=ZERO_HASH,
            state_root=EMPTY_ROOT,
            validators_hash=ZERO_HASH,
            next_validators_hash=ZERO_HASH,
            transaction_count=0,
        )
        return CertifiedStateProof(contract, key, None, StateProof((), None), header, Hash(b"\x09" * 32), None)


def test_rpc_and_rest_serve_the_same_proof_at_the_tip_and_at_a_height() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        assert isinstance(node, ProvingNode)
        at_tip = result_of(await rpc(client, "gusu_getStateProof", ["account", "0x62616c"]))
        response = await client.get("/v1/state/account/0x62616c/proof")
        assert response.status == 200
        assert await response.json() == at_tip
        assert at_tip["height"] == 5 and at_tip["exists"] is False and at_tip["value"] is None
        assert state_proof_from_json(at_tip).key == b"bal"
        at_three = result_of(await rpc(client, "gusu_getStateProof", ["evidence", "0x", 3]))
        response = await client.get("/v1/state/evidence/0x/proof?height=3")
        assert await response.json() == at_three and at_three["height"] == 3
        assert node.proof_queries == [
            ("account", b"bal", None),
            ("account", b"bal", None),
            ("evidence", b"", Height(3)),
            ("evidence", b"", Height(3)),
        ]

    run_api(scenario, ProvingNode())


@pytest.mark.parametrize(
    "params",
    [
        [],
        ["account"],
        [7, "0x00"],
        ["", "0x00"],
        ["account", "00"],
        ["account", "0x0"],
        ["account", "0x" + "00" * (STATE_PROOF_KEY_BYTES_MAX + 1)],
        ["account", "0x00", -1],
        ["account", "0x00", "3"],
        ["account", "0x00", 1.5],
        ["account", "0x00", 3, 4],
    ],
)
def test_bad_rpc_params_are_refused_before_the_node_is_asked(params: list[Any]) -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        assert isinstance(node, ProvingNode)
        assert error_of(await rpc(client, "gusu_getStateProof", params))["code"] == -32602
        assert node.proof_queries == []

    run_api(scenario, ProvingNode())


def test_bad_rest_paths_and_a_height_past_the_tip_are_refused() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        assert isinstance(node, ProvingNode)
        for path in [
            "/v1/state/account/00/proof",
            "/v1/state/account/0x0/proof",
            "/v1/state/account/0x00/proof?height=-1",
            "/v1/state/account/0x00/proof?height=x",
            f"/v1/state/account/0x{'00' * (STATE_PROOF_KEY_BYTES_MAX + 1)}/proof",
        ]:
            response = await client.get(path)
            assert response.status == 400, (path, await response.text())
        assert node.proof_queries == []
        response = await client.get("/v1/state/account/0x00/proof?height=99")
        assert response.status == 404
        assert "not committed yet" in (await response.json())["error"]["message"]
        error = error_of(await rpc(client, "gusu_getStateProof", ["account", "0x00", 99]))
        assert "not committed yet" in error["message"]

    run_api(scenario, ProvingNode())

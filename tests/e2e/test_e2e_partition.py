"""A network partition with Linux network namespaces: one validator cut off, then healed.

Each node runs in a namespace of its own (``ip netns exec``) with two links:

* ``p2p0``, a veth into a "switch" namespace whose bridge joins all four
  nodes (10.x.0.<i+1>/24): the only path between validators;
* ``mgmt0``, a veth to the root namespace (10.y.<i>.2/24, the root side
  10.y.<i>.1) on which the node's API listens, so the test still reaches a
  node that the partition cut off from its peers.

Cutting node i sets its port on the switch's bridge down; healing sets it
up. Creating all this needs root and a working ``ip netns``; the test is
skipped otherwise, with the reason. Everything it creates (namespaces, and
with them every veth and the bridge) is removed at the end, even after a
failure; namespaces left behind by an earlier run that was killed are
removed first.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from e2e_helpers import (
    NODE_COUNT,
    E2ENetwork,
    LoadGenerator,
    NodeSpec,
    assert_not_committed,
    check_network,
    running_network,
    wait_committed,
)

from gusu.api.process import is_process_alive

pytestmark = pytest.mark.e2e

NAMESPACE_PREFIX = "gusue2e-"
NAMESPACE_PATTERN = re.compile(r"gusue2e-(\d+)-(?:sw|n\d+|probe)")
MANAGEMENT_LINK_PREFIX = "ge"
MANAGEMENT_LINK_PATTERN = re.compile(r"ge(\d+)m\d+")


def _ip(*arguments: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *arguments], capture_output=True, text=True, timeout=20, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"ip {' '.join(arguments)} failed: {result.stderr.strip()}")
    return result


def _list_namespaces() -> list[str]:
    return [line.split()[0] for line in _ip("netns", "list").stdout.splitlines() if line.strip()]


def _list_root_links() -> set[str]:
    """Interface names of the root namespace (without the ``@peer`` suffix)."""
    names = set()
    for line in _ip("-o", "link", "show").stdout.splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2:
            names.add(parts[1].strip().split("@")[0])
    return names


def _remove_stale_namespaces() -> None:
    """Links and namespaces of an earlier run whose pytest process is gone (killed before its teardown)."""
    for name in _list_root_links():
        match = MANAGEMENT_LINK_PATTERN.fullmatch(name)
        if match and not is_process_alive(int(match.group(1))):
            _ip("link", "delete", name, check=False)
    for name in _list_namespaces():
        match = NAMESPACE_PATTERN.fullmatch(name)
        if match and not is_process_alive(int(match.group(1))):
            _ip("netns", "delete", name, check=False)


def get_unavailable_reason() -> str | None:
    """Why this machine cannot run the partition test, or None if it can."""
    if not sys.platform.startswith("linux"):
        return f"network namespaces are Linux-only (this is {sys.platform})"
    if os.geteuid() != 0:
        return f"creating network namespaces needs root (running as uid {os.geteuid()})"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    probe = f"{NAMESPACE_PREFIX}{os.getpid()}-probe"
    try:
        result = _ip("netns", "add", probe, check=False)
        if result.returncode != 0:
            return f"`ip netns add` does not work here: {result.stderr.strip()}"
        result = _ip("-n", probe, "link", "add", "probe0", "type", "bridge", check=False)
        if result.returncode != 0:
            return f"cannot create a bridge in a network namespace: {result.stderr.strip()}"
        result = _ip("-n", probe, "link", "add", "probe1", "type", "veth", "peer", "name", "probe2", check=False)
        if result.returncode != 0:
            return f"cannot create veth pairs: {result.stderr.strip()}"
    finally:
        _ip("netns", "delete", probe, check=False)
    return None


def _pick_free_subnets(count: int) -> list[int]:
    """Second octets of 10.x.0.0/16 that no route of the root namespace touches."""
    routes = _ip("-4", "route", "show", "table", "all").stdout
    used = {int(match) for match in re.findall(r"\b10\.(\d+)\.", routes)}
    free = [octet for octet in range(213, 250) if octet not in used]
    assert len(free) >= count, "no free 10.x.0.0/16 subnet for the test's links"
    return free[:count]


@dataclass
class NamespaceLab:
    """The namespaces, bridge and links of one test; `cut` and `heal` partition a node."""

    pid: int
    p2p_octet: int
    management_octet: int
    count: int = NODE_COUNT
    """How many node namespaces (each with a validator link to the switch and a management link)."""

    @property
    def prefix(self) -> str:
        return f"{NAMESPACE_PREFIX}{self.pid}-"

    @property
    def switch(self) -> str:
        return f"{self.prefix}sw"

    def namespace(self, index: int) -> str:
        return f"{self.prefix}n{index}"

    def switch_port(self, index: int) -> str:
        return f"port{index}"

    def management_link(self, index: int) -> str:
        """The root namespace's end of node `index`'s management veth (at most 15 characters)."""
        return f"{MANAGEMENT_LINK_PREFIX}{self.pid}m{index}"

    def p2p_host(self, index: int) -> str:
        return f"10.{self.p2p_octet}.0.{index + 1}"

    def api_host(self, index: int) -> str:
        return f"10.{self.management_octet}.{index}.2"

    @property
    def specs(self) -> list[NodeSpec]:
        return [
            NodeSpec(
                command_prefix=("ip", "netns", "exec", self.namespace(index)),
                api_host=self.api_host(index),
                p2p_host=self.p2p_host(index),
            )
            for index in range(self.count)
        ]

    def build(self) -> None:
        _ip("netns", "add", self.switch)
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        for index in range(self.count):
            namespace = self.namespace(index)
            _ip("netns", "add", namespace)
            _ip("-n", namespace, "link", "set", "lo", "up")
            # validator link: node namespace <-> switch bridge
            _ip(
                "link", "add", "p2p0", "netns", namespace, "type", "veth",
                "peer", "name", self.switch_port(index), "netns", self.switch,
            )  # fmt: skip
            _ip("-n", self.switch, "link", "set", self.switch_port(index), "master", "br0")
            _ip("-n", self.switch, "link", "set", self.switch_port(index), "up")
            _ip("-n", namespace, "addr", "add", f"{self.p2p_host(index)}/24", "dev", "p2p0")
            _ip("-n", namespace, "link", "set", "p2p0", "up")
            # management link: root namespace <-> node namespace, for the test's RPC
            root_side = self.management_link(index)
            _ip("link", "add", root_side, "type", "veth", "peer", "name", "mgmt0", "netns", namespace)
            _ip("addr", "add", f"10.{self.management_octet}.{index}.1/24", "dev", root_side)
            _ip("link", "set", root_side, "up")
            _ip("-n", namespace, "addr", "add", f"{self.api_host(index)}/24", "dev", "mgmt0")
            _ip("-n", namespace, "link", "set", "mgmt0", "up")

    def cut(self, index: int) -> None:
        _ip("-n", self.switch, "link", "set", self.switch_port(index), "down")

    def heal(self, index: int) -> None:
        _ip("-n", self.switch, "link", "set", self.switch_port(index), "up")

    def remove(self) -> list[str]:
        """Delete every link and namespace of this lab; what could not be deleted.

        The root-side management veths are deleted explicitly (which deletes
        both ends): a killed node's orphaned TCP sockets can keep its
        namespace alive in the kernel for a while after `ip netns delete`,
        and with it that veth. The switch namespace holds no sockets, so the
        bridge and the validator links go with it at once.
        """
        failures = []
        links = _list_root_links()
        for index in range(self.count):
            if self.management_link(index) in links:
                result = _ip("link", "delete", self.management_link(index), check=False)
                if result.returncode != 0:
                    failures.append(f"{self.management_link(index)}: {result.stderr.strip()}")
        namespaces = _list_namespaces()
        for name in [self.switch, *(self.namespace(index) for index in range(self.count))]:
            if name in namespaces:
                result = _ip("netns", "delete", name, check=False)
                if result.returncode != 0:
                    failures.append(f"{name}: {result.stderr.strip()}")
        return failures

    def leftovers(self) -> list[str]:
        names = [name for name in _list_namespaces() if name.startswith(self.prefix)]
        links = {self.management_link(index) for index in range(self.count)}
        return names + sorted(links.intersection(_list_root_links()))


@contextmanager
def namespace_lab(count: int = NODE_COUNT) -> Iterator[NamespaceLab]:
    _remove_stale_namespaces()
    p2p_octet, management_octet = _pick_free_subnets(2)
    lab = NamespaceLab(os.getpid(), p2p_octet, management_octet, count)
    try:
        lab.build()
        yield lab
    finally:
        failures = lab.remove()
        assert not failures, f"could not remove the test's links and namespaces: {failures}"
        leftovers = lab.leftovers()
        assert not leftovers, f"links or namespaces left behind: {leftovers}"


def test_partition_cuts_one_validator_off_then_heals(tmp_path: Path) -> None:
    reason = get_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    victim, majority = 3, [0, 1, 2]
    with namespace_lab() as lab, running_network(tmp_path / "net", lab.specs) as network:
        _run_partition(network, lab, victim, majority)


def _run_partition(network: E2ENetwork, lab: NamespaceLab, victim: int, majority: list[int]) -> None:
    with LoadGenerator(network, seed=4) as load:
        load.wait_for(40, timeout_s=20)
        lab.cut(victim)
        before_cut = load.acknowledged
        start = max(network.heights(majority).values())
        # The majority (3/4 of the power) keeps committing without it: what it takes commits.
        network.wait_heights_at_least(majority, start + 5, timeout_s=20)
        load.wait_for(20, timeout_s=20)
        wait_committed(network, majority, load.acknowledged_since(before_cut, by=majority), timeout_s=30)
        # The cut node still answers clients (its API is on another link) and journals what it accepts,
        # but commits none of it alone.
        isolated = network.height(victim)
        before_isolated = load.acknowledged
        load.wait_for(5, timeout_s=20, by=victim)
        time.sleep(3)
        held = load.acknowledged_since(before_isolated, by=[victim])
        assert_not_committed(network, [victim], held)
        assert network.height(victim) == isolated, "a validator cut off from the others committed a block alone"
        majority_height = min(network.heights(majority).values())
        assert isolated < majority_height
        # What it did commit is the majority's chain: no fork.
        cut_clients = [network.nodes[index].client() for index in [victim, *majority]]
        try:
            for height in range(1, isolated + 1):
                hashes = {client.get_block(height).block_hash for client in cut_clients}
                assert len(hashes) == 1, f"the cut node forked at height {height}"
        finally:
            for client in cut_clients:
                client.close()
        lab.heal(victim)
        healed_s = time.monotonic()
        network.wait_caught_up(victim, majority, timeout_s=60)
        caught_up_s = time.monotonic() - healed_s
        # What it took while cut off commits everywhere once it is back.
        wait_committed(network, [victim, *majority], held, timeout_s=60)
        print(
            f"\npartition: node{victim} cut at height {isolated} while the majority reached {majority_height}; "
            f"caught up {caught_up_s:.2f} s after healing, its {len(held)} held transactions committed "
            f"{time.monotonic() - healed_s:.2f} s after"
        )
        load.wait_for(10, timeout_s=20)
    summary = check_network(network, load.acknowledged)
    assert summary.nodes == [0, 1, 2, 3]

"""Timing a fresh node joining a generated chain (`gusu bench join`, scripts/measure_join.sh).

A directory from `gusu bench generate` (`gusu.eval.stategen`) is a local network of two validators:
node0 holds the chain, node1 is the joiner. `measure_join`

1. empties node1's data directory (and its archive), so it starts from genesis;
2. optionally appends a TOML snippet to node1's config.toml (`joiner_config_extra`) and one to node0's
   (`source_config_extra`, e.g. its snapshot settings), both restored afterwards:
   this is the hook for joining by state sync, e.g. ``[state_sync]`` / ``enabled = true`` once the node
   has it (the section's exact name and keys are the state-sync work's; until then the node refuses the
   unknown section at start, and this says so);
3. starts node0 and waits until it serves (opening a large store takes a while) and, when node1 joins by
   state sync, until node0 offers a snapshot (a serving node plans its snapshots when it starts: on a chain
   that has been running they are planned long before anyone joins, so that time is not the joiner's);
4. starts node1 and polls its height (JSON-RPC ``gusu_blockNumber``) until it reaches node0's tip or the
   timeout passes, recording (seconds, height) samples;
5. stops both nodes.

The result says how long node1 took from its start to the tip (or how far it got, and the rate over the
last half of the samples, with an extrapolation to the tip labelled as such).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gusu.errors import ConfigError, NodeError
from gusu.eval.network import LocalNetwork
from gusu.eval.stategen import NODE_NAMES, load_manifest
from gusu.node.config import CONFIG_FILE_NAME, load_config

JOIN_TIMEOUT_S_MAX = 24 * 3600.0
SOURCE_READY_TIMEOUT_S = 600.0
JOIN_POLL_INTERVAL_S = 1.0
CONFIG_EXTRA_BYTES_MAX = 64 * 1024
STATE_SYNC_CONFIG = "[state_sync]\nenabled = true\n"
"""What `gusu bench join --state-sync` appends to the joiner's config.toml. The section and key are the
state-sync work's to settle; if they differ, pass the right snippet with `--joiner-config FILE`."""


@dataclass(frozen=True, slots=True)
class JoinResult:
    mode: str
    """"replay", or "state-sync" when a config snippet was given."""
    tip_height: int
    reached_height: int
    source_start_s: float
    """node0 from its start until it served."""
    source_offer_s: float | None
    """node0 from serving until it offered a snapshot (state sync only), not counted in `seconds`."""
    joiner_ready_s: float
    """node1 from its start until it served (a state-sync node may fetch the snapshot before or after)."""
    seconds: float | None
    """node1 from its start until its height reached the tip; None if the timeout came first."""
    samples: tuple[tuple[float, int], ...]
    blocks_per_s: float
    """Over the second half of the samples (steady state)."""

    @property
    def extrapolated_seconds(self) -> float | None:
        """Time to the tip at `blocks_per_s` from the last sample, when the tip was not reached."""
        if self.seconds is not None or self.blocks_per_s <= 0 or not self.samples:
            return None
        last_s, last_height = self.samples[-1]
        return last_s + (self.tip_height - last_height) / self.blocks_per_s

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "tip_height": self.tip_height,
            "reached_height": self.reached_height,
            "source_start_s": round(self.source_start_s, 2),
            "source_offer_s": None if self.source_offer_s is None else round(self.source_offer_s, 2),
            "joiner_ready_s": round(self.joiner_ready_s, 2),
            "seconds_to_tip": None if self.seconds is None else round(self.seconds, 2),
            "blocks_per_s": round(self.blocks_per_s, 2),
            "extrapolated_seconds_to_tip": (
                None if self.extrapolated_seconds is None else round(self.extrapolated_seconds, 1)
            ),
            "samples": [[round(at_s, 2), height] for at_s, height in self.samples],
        }


def compute_rate(samples: tuple[tuple[float, int], ...]) -> float:
    """Blocks per second over the second half of `samples` (the first half holds start-up and the snapshot)."""
    if len(samples) < 2:
        return 0.0
    first_s, first_height = samples[len(samples) // 2 - 1] if len(samples) > 2 else samples[0]
    last_s, last_height = samples[-1]
    return (last_height - first_height) / (last_s - first_s) if last_s > first_s else 0.0


def _reset_joiner(directory: Path) -> None:
    """node1 from nothing: no data, no archive, no pid or log of an earlier run."""
    config = load_config(directory)
    for path in (config.data_path, config.archive_path):
        if path.exists():
            shutil.rmtree(path)
    config.log_path.unlink(missing_ok=True)


def _append_config(node_directory: Path, extra: str | None, who: str) -> str:
    """Append `extra` to the node's config.toml; the original text (to restore). ConfigError if refused."""
    config_path = node_directory / CONFIG_FILE_NAME
    original = config_path.read_text(encoding="utf-8")
    if extra is None:
        return original
    if len(extra.encode()) > CONFIG_EXTRA_BYTES_MAX:
        raise ConfigError(f"the extra configuration for {who} is over {CONFIG_EXTRA_BYTES_MAX} bytes")
    config_path.write_text(original + "\n" + extra.strip() + "\n", encoding="utf-8")
    try:
        load_config(node_directory)
    except ConfigError as error:
        config_path.write_text(original, encoding="utf-8")
        raise ConfigError(
            f"{who} refuses the extra configuration ({error}); this node build may not have state sync yet"
        ) from None
    return original


SNAPSHOT_OFFERED_LOG = "offered for state sync"
"""What node0's log says once it offers a snapshot (gusu.node.node); the node has no API for it."""


def _get_log_size(node_directory: Path) -> int:
    log = node_directory / "node.log"
    return log.stat().st_size if log.exists() else 0


def _wait_for_snapshot_offer(node_directory: Path, log_offset: int, timeout_s: float) -> None:
    """Until node0's log, past `log_offset` (this run's part: the log is appended to), says it offers one."""
    log = node_directory / "node.log"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if log.exists():
            with log.open("rb") as log_file:
                log_file.seek(log_offset)
                if SNAPSHOT_OFFERED_LOG.encode() in log_file.read():
                    return
        time.sleep(JOIN_POLL_INTERVAL_S)
    raise NodeError(
        f"node0 offered no snapshot within {timeout_s:g} s: give it [state_sync] snapshot_interval_blocks "
        "(--source-config) so that a height it holds is a multiple of it"
    )


def measure_join(
    directory: Path,
    *,
    timeout_s: float,
    joiner_config_extra: str | None = None,
    source_config_extra: str | None = None,
) -> JoinResult:
    """Start node0 on the generated chain, then time node1 joining from an empty store (see the module doc).

    `source_config_extra` is appended to node0's config.toml for the run (e.g. the settings under which it
    takes and offers snapshots); both files are restored afterwards.
    """
    if not 1 <= timeout_s <= JOIN_TIMEOUT_S_MAX:
        raise ConfigError(f"--timeout must be between 1 and {JOIN_TIMEOUT_S_MAX:g} seconds")
    manifest = load_manifest(directory)
    tip_height = int(manifest["tip_height"])
    network = LocalNetwork.open(directory)
    source, joiner = NODE_NAMES
    originals: dict[str, str] = {}
    try:
        originals[joiner] = _append_config(directory / joiner, joiner_config_extra, joiner)
        originals[source] = _append_config(directory / source, source_config_extra, source)
        _reset_joiner(directory / joiner)
        source_log_offset = _get_log_size(directory / source)
        started_s = time.monotonic()
        network.start([source], ready_timeout_s=SOURCE_READY_TIMEOUT_S, wait_for_peers=False)
        source_start_s = time.monotonic() - started_s
        source_height = network.get_heights([source])[source]
        if source_height is None or source_height < tip_height:
            raise NodeError(f"node0 serves height {source_height}, not the generated tip {tip_height}")
        source_offer_s = None
        if joiner_config_extra is not None:
            offered_s = time.monotonic()
            _wait_for_snapshot_offer(directory / source, source_log_offset, SOURCE_READY_TIMEOUT_S)
            source_offer_s = time.monotonic() - offered_s
        started_s = time.monotonic()
        network.start([joiner], ready_timeout_s=min(timeout_s, SOURCE_READY_TIMEOUT_S), wait_for_peers=False)
        joiner_ready_s = time.monotonic() - started_s
        samples: list[tuple[float, int]] = []
        seconds: float | None = None
        while True:
            height = network.get_heights([joiner])[joiner]
            at_s = time.monotonic() - started_s
            if height is not None:
                samples.append((at_s, height))
                if height >= tip_height:
                    seconds = at_s
                    break
            if at_s > timeout_s:
                break
            time.sleep(JOIN_POLL_INTERVAL_S)
    finally:
        network.stop()
        for name, text in originals.items():
            (directory / name / CONFIG_FILE_NAME).write_text(text, encoding="utf-8")
    recorded = tuple(samples)
    return JoinResult(
        mode="replay" if joiner_config_extra is None else "state-sync",
        tip_height=tip_height,
        reached_height=recorded[-1][1] if recorded else 0,
        source_start_s=source_start_s,
        source_offer_s=source_offer_s,
        joiner_ready_s=joiner_ready_s,
        seconds=seconds,
        samples=recorded,
        blocks_per_s=compute_rate(recorded),
    )

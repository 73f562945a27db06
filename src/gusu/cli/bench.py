"""`gusu bench`: the command-line face of `gusu.eval.bench`."""

from __future__ import annotations

import json
import shlex
import signal
import sys
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from gusu.api.settings import GATEWAY_WORKERS_MAX
from gusu.cli.context import CliState, CliUsageError, common_options, get_state, write_json
from gusu.cli.keystore import load_key
from gusu.cli.net import get_default_workers
from gusu.crypto import SUITE_NAMES
from gusu.eval.appbench import APP_LOADS, app_summary_rows, get_app_bench_error, run_app_bench
from gusu.eval.bench import (
    DEFAULT_BATCH,
    DEFAULT_CONNECTIONS,
    DEFAULT_DRAIN_TIMEOUT_S,
    DEFAULT_DURATION_S,
    DEFAULT_SENDERS,
    DEFAULT_WARMUP_S,
    DEFAULT_WINDOW,
    BenchConfig,
    describe_problems,
    run_bench,
    summary_rows,
)
from gusu.eval.evmbench import (
    BLOCK_INTERVAL_MS_MAX,
    DEFAULT_EVM_DRAIN_TIMEOUT_S,
    DEFAULT_EVM_DURATION_S,
    DEFAULT_EVM_SENDERS,
    DEFAULT_EVM_WARMUP_S,
    DEFAULT_IN_FLIGHT,
    EVM_LOADS,
    IN_FLIGHT_MAX,
    ROUNDS_MAX,
    EvmRunSettings,
    evm_summary_rows,
    get_evm_bench_error,
    run_evm_bench,
)
from gusu.eval.network import NODES_MAX, LocalNetwork
from gusu.eval.stategen import (
    ACCOUNTS_MAX,
    BLOCKS_MAX,
    SENDERS_MAX,
    WORKERS_MAX,
    GenerateProgress,
    GenerateSettings,
    generate_chain,
    load_manifest,
    replay_chain,
)
from gusu.eval.statejoin import JOIN_TIMEOUT_S_MAX, STATE_SYNC_CONFIG, measure_join
from gusu.eval.valset_bench import (
    DEFAULT_REMOVAL,
    DEFAULT_THROUGHPUT_WINDOW_S,
    REMOVALS,
    THROUGHPUT_WINDOW_MIN_S,
    ValidatorChangePlan,
    change_summary_rows,
    describe_change_problems,
    run_validator_change_bench,
)

DEFAULT_SINGLE_NODE_WORKERS = 2


class RichProgress:
    """Draws the benchmark's phases as progress bars on stderr."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None
        self._total: float | None = None

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.done()
        self._progress.stop()

    def phase(self, name: str, total: float | None = None) -> None:
        self.done()
        self._total = total
        self._task = self._progress.add_task(name, total=total, detail="")

    def advance(self, completed: float, detail: str = "") -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=completed, detail=detail)

    def done(self) -> None:
        # A finished phase shows a full bar, also one whose length was unknown.
        if self._task is not None:
            total = self._total if self._total is not None else 1.0
            self._progress.update(self._task, total=total, completed=total)
            self._task = None


def _interrupt(_signal_number: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


class _NoProgress:
    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def phase(self, name: str, total: float | None = None) -> None:
        pass

    def advance(self, completed: float, detail: str = "") -> None:
        pass

    def done(self) -> None:
        pass


@click.group("bench", invoke_without_command=True)
@click.option(
    "--suite",
    type=click.Choice(list(SUITE_NAMES)),
    default="sm",
    show_default=True,
    help="Suite of the throw-away chain.",
)
@click.option(
    "--nodes",
    type=click.IntRange(1, NODES_MAX),
    default=None,
    help="Validators of the throw-away chain, one process each; more than 1 benchmarks a network [default 1].",
)
@click.option(
    "--consensus",
    type=click.Choice(["tendermint", "raft"]),
    default="tendermint",
    show_default=True,
    help="Ordering of the throw-away network (with --nodes 2 or more).",
)
@click.option(
    "--dir",
    "network_directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Benchmark the local network in this directory (made by `gusu net up`) instead of a throw-away one.",
)
@click.option(
    "--down-node",
    type=click.IntRange(min=0),
    default=None,
    metavar="K",
    help="Network only: SIGKILL node K (node0 is 0) before the load, for the one-node-down figure.",
)
@click.option(
    "--validator-change",
    is_flag=True,
    default=False,
    help="Network only, open loop: during the window vote a new organisation's observer in as a validator, "
    "then the last founder out; per-height rounds, throughput dips, exactly-once check (docs/benchmarks.md).",
)
@click.option(
    "--removal",
    type=click.Choice(list(REMOVALS)),
    default=DEFAULT_REMOVAL,
    show_default=True,
    help="With --validator-change: how the founder leaves (its record removed, or its power set to 0).",
)
@click.option(
    "--throughput-window",
    "throughput_window_s",
    type=click.FloatRange(min=THROUGHPUT_WINDOW_MIN_S),
    default=DEFAULT_THROUGHPUT_WINDOW_S,
    show_default=True,
    help="With --validator-change: seconds per throughput window.",
)
@click.option(
    "--contract",
    "contract_load",
    is_flag=True,
    default=False,
    help="Load a deployed sandboxed token contract (bench_token) instead of the native account.transfer.",
)
@click.option(
    "--app",
    "app_name",
    type=click.Choice(list(APP_LOADS)),
    default=None,
    help="Load an application's main transaction (deployed on the chain first) instead of account.transfer.",
)
@click.option(
    "--against-transfer",
    is_flag=True,
    default=False,
    help="With --app: then run account.transfer with the same settings and report both (docs/benchmarks.md).",
)
@click.option(
    "--evm",
    "evm_load",
    type=click.Choice(list(EVM_LOADS)),
    default=None,
    help="Ethereum load: ERC-20 transfers through eth_sendRawTransaction on a throw-away ecdsa chain with the EVM "
    "(closed loop, then open loop at half the sustained rate or --rate; docs/benchmarks.md).",
)
@click.option(
    "--against-hardhat",
    is_flag=True,
    default=False,
    help="With --evm: first run the same client against Hardhat's own `hardhat node` (tests/eth/hardhat).",
)
@click.option(
    "--rounds",
    type=click.IntRange(1, ROUNDS_MAX),
    default=None,
    help="With --evm: run every target this many times, alternating (Hardhat, Gusu, Hardhat, ...), and compare "
    "the medians [default 1].",
)
@click.option(
    "--block-interval-ms",
    type=click.IntRange(0, BLOCK_INTERVAL_MS_MAX),
    default=None,
    help="With --evm: the Gusu chain's genesis block_interval_ms [default: the chain default, 200].",
)
@click.option(
    "--block-gather-ms",
    type=click.IntRange(0, BLOCK_INTERVAL_MS_MAX),
    default=None,
    help="With --evm: the Gusu node's [consensus] block_gather_ms (a block waits this long after the first "
    "transaction it takes arrived) [default: 0].",
)
@click.option(
    "--gateway-workers",
    type=click.IntRange(0, GATEWAY_WORKERS_MAX),
    default=None,
    help="With --evm and one node: the node's [api] gateway_workers, RPC gateway processes the client sends "
    "to [default: 0, the node's own port].",
)
@click.option(
    "--in-flight",
    type=click.IntRange(1, IN_FLIGHT_MAX),
    default=None,
    help=f"With --evm: transfers kept in flight in the closed loop [default {DEFAULT_IN_FLIGHT}].",
)
@click.option(
    "--workers",
    type=click.IntRange(0, 64),
    default=None,
    help="Signature-verifier processes per throw-away node [default: 2 for one node, else cores ÷ nodes, at least 1].",
)
@click.option(
    "--senders",
    type=click.IntRange(min=1),
    default=DEFAULT_SENDERS,
    show_default=True,
    help="Funded accounts the load is spread over.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Open loop: submit this many transactions per second.",
)
@click.option(
    "--window",
    type=click.IntRange(min=1),
    default=None,
    help=f"Closed loop (the default): transactions kept outstanding [default {DEFAULT_WINDOW}].",
)
@click.option(
    "--batch",
    type=click.IntRange(1, 5000),
    default=DEFAULT_BATCH,
    show_default=True,
    help="Transactions per gusu_sendRawTransactions request.",
)
@click.option(
    "--connections",
    type=click.IntRange(1, 256),
    default=None,
    help=f"Concurrent HTTP requests [default: {DEFAULT_CONNECTIONS} per node, so a network's nodes are all kept busy].",
)
@click.option(
    "--warmup",
    "warmup_s",
    type=click.FloatRange(min=0),
    default=DEFAULT_WARMUP_S,
    show_default=True,
    help="Seconds of load before measuring.",
)
@click.option(
    "--duration",
    "duration_s",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_DURATION_S,
    show_default=True,
    help="Seconds measured.",
)
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=None,
    help="Transactions to pre-sign (default: estimated from the rate or the verification capacity).",
)
@click.option(
    "--drain-timeout",
    "drain_timeout_s",
    type=click.FloatRange(min=0),
    default=DEFAULT_DRAIN_TIMEOUT_S,
    show_default=True,
    help="Seconds to wait for outstanding transactions after the window.",
)
@click.option(
    "--key",
    "key_reference",
    default=None,
    metavar="NAME|PATH",
    help="With --endpoint: a funded key that pays the senders.",
)
@click.option(
    "--passphrase-file", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Passphrase of --key."
)
@click.option(
    "--node-pid",
    type=int,
    default=None,
    help="With --endpoint: the node's pid, for CPU figures (found from the port when local).",
)
@click.option(
    "--output",
    "output_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the JSON result to this file.",
)
@common_options
def bench_command(
    suite: str,
    nodes: int | None,
    consensus: str,
    network_directory: Path | None,
    down_node: int | None,
    validator_change: bool,
    removal: str,
    throughput_window_s: float,
    contract_load: bool,
    app_name: str | None,
    against_transfer: bool,
    evm_load: str | None,
    against_hardhat: bool,
    rounds: int | None,
    block_interval_ms: int | None,
    block_gather_ms: int | None,
    gateway_workers: int | None,
    in_flight: int | None,
    workers: int | None,
    senders: int,
    rate: float | None,
    window: int | None,
    batch: int,
    connections: int | None,
    warmup_s: float,
    duration_s: float,
    count: int | None,
    drain_timeout_s: float,
    key_reference: str | None,
    passphrase_file: Path | None,
    node_pid: int | None,
    output_path: Path | None,
) -> None:
    """Measure sustained TPS and commit latency under signed account.transfer load.

    \b
    Without --endpoint on the command line, a throw-away chain is created in
    a temporary directory, its node started, benchmarked, stopped and removed.
    Closed loop (--window, the default) finds the sustained maximum; open loop
    (--rate) checks latency at a fixed load, e.g. half the sustained rate.

    \b
    Subcommands (state growth, issue 13): `gusu bench generate` writes a large
    valid chain, `gusu bench replay` re-checks it as a joining node would,
    `gusu bench join` times a fresh node joining it.
    """
    if click.get_current_context().invoked_subcommand is not None:
        return  # `gusu bench generate|replay|join`: the subcommand runs instead
    state = get_state()
    if evm_load is not None:
        _run_evm_bench(
            state,
            nodes,
            workers,
            against_hardhat,
            rounds or 1,
            block_interval_ms,
            block_gather_ms,
            gateway_workers or 0,
            in_flight,
            rate,
            output_path,
        )
        return
    if (
        against_hardhat
        or in_flight is not None
        or block_interval_ms is not None
        or block_gather_ms is not None
        or gateway_workers is not None
        or rounds is not None
    ):
        raise CliUsageError(
            "--against-hardhat, --rounds, --block-interval-ms, --block-gather-ms, --gateway-workers and --in-flight "
            "go with --evm erc20"
        )
    if rate is not None and window is not None:
        raise CliUsageError("choose one of --rate (open loop) and --window (closed loop)")
    if against_transfer and app_name is None:
        raise CliUsageError("--against-transfer compares an application's load with account.transfer: give --app")
    endpoint = state.endpoint if state.endpoint_explicit else None
    if endpoint is not None and (nodes is not None or network_directory is not None or down_node is not None):
        raise CliUsageError("--endpoint benchmarks one node; --nodes, --dir and --down-node are for a local network")
    if network_directory is not None:
        network_directory = network_directory.expanduser().resolve()
        network = LocalNetwork.open(network_directory)
        if nodes is not None and nodes != len(network.nodes):
            raise CliUsageError(f"{network_directory} holds {len(network.nodes)} nodes, not --nodes {nodes}")
        nodes = len(network.nodes)
    node_count = nodes if nodes is not None else 1
    if connections is None:
        # Each request waits for its transactions' admission at one node: four in flight are
        # enough to keep one node busy, not four nodes.
        connections = min(DEFAULT_CONNECTIONS * node_count, 256)
    if validator_change and (nodes is None or network_directory is not None or endpoint is not None):
        raise CliUsageError("--validator-change runs on a throw-away network: give --nodes (4 or more), no --dir")
    if workers is None:
        # With --validator-change a newcomer node shares the cores too.
        processes = node_count + 1 if validator_change else node_count
        workers = DEFAULT_SINGLE_NODE_WORKERS if node_count == 1 else get_default_workers(processes)
    funding_key = None
    if key_reference is not None:
        funding_key = load_key(state.keys_directory, key_reference, passphrase_file).key
    elif endpoint is not None:
        raise CliUsageError(
            "with --endpoint, pass --key: a funded account (e.g. <chain>/keys/dev.json) pays the senders"
        )
    config = BenchConfig(
        suite=suite,
        nodes=node_count,
        network_directory=network_directory,
        down_node=down_node,
        consensus=consensus,
        contract=contract_load,
        app=None if app_name is None else APP_LOADS[app_name],
        workers=workers,
        senders=senders,
        rate=rate,
        window=window if window is not None else DEFAULT_WINDOW,
        batch=batch,
        connections=connections,
        warmup_s=warmup_s,
        duration_s=duration_s,
        endpoint=endpoint,
        funding_key=funding_key if endpoint is not None else None,
        count=count,
        node_pid=node_pid,
        drain_timeout_s=drain_timeout_s,
        command=shlex.join(["gusu", *sys.argv[1:]]),
    )
    show_progress = not state.json_output and state.stderr.is_terminal
    progress: RichProgress | _NoProgress = RichProgress(state.stderr) if show_progress else _NoProgress()
    # SIGTERM (a CI timeout, `kill`) must clean up like Ctrl-C: stop the node, remove the temp chain.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with progress:
            if validator_change:
                plan = ValidatorChangePlan(removal=removal, throughput_window_s=throughput_window_s)
                result = run_validator_change_bench(config, plan, progress)
            elif config.app is not None:
                result = run_app_bench(config, progress, against_transfer=against_transfer)
            else:
                result = run_bench(config, progress)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if output_path is not None:
        output_path.parent.mkdir(parents=True, exist_ok=True)
        output_path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    problems = describe_change_problems(result) + describe_problems(result)
    if state.json_output:
        write_json(result)
    else:
        table = Table(title="gusu bench", show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column()
        for label, value in summary_rows(result) + change_summary_rows(result) + app_summary_rows(result):
            table.add_row(label, value)
        state.stdout.print(table)
    for problem in problems:
        style = "bold red" if problem.startswith("BUG") else "yellow"
        state.stderr.print(f"[{style}]warning:[/{style}] {problem}")
    if result.get("lost"):
        click.echo(f"error: {result['lost']} acknowledged transaction(s) were lost by the node", err=True)
        click.get_current_context().exit(1)
    app_error = get_app_bench_error(result)
    if app_error is not None:
        click.echo(f"error: {app_error}", err=True)
        click.get_current_context().exit(1)
    change = result.get("validator_change") or {}
    if change.get("transactions_lost") or change.get("committed_more_than_once") or change.get("error"):
        click.echo("error: the validator change lost or repeated transactions, or did not complete", err=True)
        click.get_current_context().exit(1)


_EVM_FOREIGN_OPTIONS = (
    "suite",
    "consensus",
    "network_directory",
    "down_node",
    "validator_change",
    "contract_load",
    "app_name",
    "against_transfer",
    "window",
    "batch",
    "connections",
    "count",
    "key_reference",
    "node_pid",
)
"""Options of the other loads that mean nothing with --evm (refused rather than ignored)."""


def _run_evm_bench(
    state: CliState,
    nodes: int | None,
    workers: int | None,
    against_hardhat: bool,
    rounds: int,
    block_interval_ms: int | None,
    block_gather_ms: int | None,
    gateway_workers: int,
    in_flight: int | None,
    rate: float | None,
    output_path: Path | None,
) -> None:
    """`gusu bench --evm erc20`: gusu.eval.evmbench, exit 1 when any transfer was refused, failed or lost."""
    context = click.get_current_context()
    given = [
        name
        for name in _EVM_FOREIGN_OPTIONS
        if context.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE
    ]
    if given:
        options = {parameter.name: parameter.opts[0] for parameter in context.command.params}
        flags = ", ".join(options[name] for name in given)
        raise CliUsageError(f"--evm runs its own ecdsa chain and client; these options do not apply: {flags}")
    if state.endpoint_explicit:
        raise CliUsageError("--evm benchmarks a throw-away chain; --endpoint is not supported with it")

    def chosen(name: str, evm_default: float) -> Any:
        # The shared options' defaults are the account.transfer load's; --evm has its own.
        if context.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE:
            return context.params[name]
        return evm_default

    node_count = nodes if nodes is not None else 1
    settings = EvmRunSettings(
        in_flight=in_flight if in_flight is not None else DEFAULT_IN_FLIGHT,
        senders=int(chosen("senders", DEFAULT_EVM_SENDERS)),
        rate=rate,
        warmup_s=float(chosen("warmup_s", DEFAULT_EVM_WARMUP_S)),
        duration_s=float(chosen("duration_s", DEFAULT_EVM_DURATION_S)),
        drain_timeout_s=float(chosen("drain_timeout_s", DEFAULT_EVM_DRAIN_TIMEOUT_S)),
    )
    if workers is None:
        workers = DEFAULT_SINGLE_NODE_WORKERS if node_count == 1 else get_default_workers(node_count)
    show_progress = not state.json_output and state.stderr.is_terminal
    progress: RichProgress | _NoProgress = RichProgress(state.stderr) if show_progress else _NoProgress()
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with progress:
            result = run_evm_bench(
                settings,
                nodes=node_count,
                workers=workers,
                against_hardhat=against_hardhat,
                block_interval_ms=block_interval_ms,
                block_gather_ms=block_gather_ms,
                gateway_workers=gateway_workers,
                rounds=rounds,
                command=shlex.join(["gusu", *sys.argv[1:]]),
                progress=progress,
            )
    finally:
        signal.signal(signal.SIGTERM, previous)
    if output_path is not None:
        output_path.parent.mkdir(parents=True, exist_ok=True)
        output_path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if state.json_output:
        write_json(result)
    else:
        table = Table(title="gusu bench --evm erc20", show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column()
        for label, value in evm_summary_rows(result):
            table.add_row(label, value)
        state.stdout.print(table)
    error = get_evm_bench_error(result)
    if error is not None:
        click.echo(f"error: not a result: {error}", err=True)
        context.exit(1)


# --- state growth (issue 13): a generated chain, its replay, a node joining it ----------------------------------


@bench_command.command("generate")
@click.option("--accounts", type=click.IntRange(1, ACCOUNTS_MAX), required=True, help="New accounts to create.")
@click.option("--blocks", type=click.IntRange(1, BLOCKS_MAX), required=True, help="Blocks to spread them over.")
@click.option(
    "--out",
    "out_directory",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory to create (must not hold a chain).",
)
@click.option("--seed", default="gusu", show_default=True, help="Everything on the chain derives from it.")
@click.option("--suite", type=click.Choice(list(SUITE_NAMES)), default="ecdsa", show_default=True)
@click.option("--senders", type=click.IntRange(1, SENDERS_MAX), default=100, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(0, WORKERS_MAX),
    default=1,
    show_default=True,
    help="Processes signing ahead of the block builder (0: sign in the builder).",
)
@click.option("--state-versions-kept", type=click.IntRange(0, None), default=0, show_default=True)
@click.option("--block-bodies-kept", type=click.IntRange(0, None), default=0, show_default=True)
@click.option("--base-api-port", type=click.IntRange(1, 65535), default=18545, show_default=True)
@click.option("--base-p2p-port", type=click.IntRange(1, 65535), default=28656, show_default=True)
@common_options
def bench_generate(
    accounts: int,
    blocks: int,
    out_directory: Path,
    seed: str,
    suite: str,
    senders: int,
    workers: int,
    state_versions_kept: int,
    block_bodies_kept: int,
    base_api_port: int,
    base_p2p_port: int,
) -> None:
    """Write a chain of ACCOUNTS new accounts over BLOCKS valid, certified blocks, ready to run.

    \b
    The directory is a two-validator local network (`gusu net start --dir`):
    node0 holds the chain and alone is a quorum, node1 is empty (the node
    that joins: `gusu bench join`). Deterministic from --seed. With
    --state-versions-kept / --block-bodies-kept, node0 prunes as it would
    running (and keeps those settings).
    """
    state = get_state()
    settings = GenerateSettings(
        accounts=accounts,
        blocks=blocks,
        seed=seed,
        suite_name=suite,
        senders=senders,
        workers=workers,
        state_versions_kept=state_versions_kept,
        block_bodies_kept=block_bodies_kept,
        base_api_port=base_api_port,
        base_p2p_port=base_p2p_port,
    )

    def on_progress(progress: GenerateProgress) -> None:
        state.note(
            f"block {progress.height:,} of {progress.blocks:,}, {progress.accounts_created:,} accounts, "
            f"{progress.elapsed_s:,.0f} s"
        )

    result = generate_chain(out_directory.expanduser().resolve(), settings, on_progress)
    document = load_manifest(result.directory)
    state.emit(document, lambda: state.stdout.print_json(data=document))


@bench_command.command("replay")
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--blocks", "blocks_max", type=click.IntRange(1, BLOCKS_MAX), default=None, help="Stop after this many.")
@click.option(
    "--to",
    "target_directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Store the replayed chain here (RocksDB; replaced) instead of in memory.",
)
@common_options
def bench_replay(directory: Path, blocks_max: int | None, target_directory: Path | None) -> None:
    """Re-check a generated chain block by block as a node replaying it does; the rate, no network."""
    state = get_state()
    result = replay_chain(directory.expanduser().resolve(), target_directory, blocks_max)
    document = {
        "blocks": result.blocks,
        "transactions": result.transactions,
        "seconds": round(result.seconds, 3),
        "blocks_per_s": round(result.blocks_per_s, 2),
        "tip_hash": result.tip_hash.hex(),
        "state_root": result.state_root.hex(),
    }
    state.emit(document, lambda: state.stdout.print_json(data=document))


@bench_command.command("join")
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--timeout", "timeout_s", type=click.FloatRange(1, JOIN_TIMEOUT_S_MAX), default=1800, show_default=True)
@click.option(
    "--joiner-config",
    "joiner_config_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="TOML appended to node1's config.toml for this run, e.g. a [state_sync] section.",
)
@click.option(
    "--source-config",
    "source_config_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="TOML appended to node0's config.toml for this run, e.g. its snapshot settings.",
)
@click.option("--state-sync", is_flag=True, help="Join by state sync: appends [state_sync] enabled = true.")
@common_options
def bench_join(
    directory: Path,
    timeout_s: float,
    joiner_config_path: Path | None,
    source_config_path: Path | None,
    state_sync: bool,
) -> None:
    """Start node0 of a generated chain, then time node1 joining it from an empty store."""
    state = get_state()
    if state_sync and joiner_config_path is not None:
        raise CliUsageError("choose one of --state-sync and --joiner-config")
    extra = STATE_SYNC_CONFIG if state_sync else None
    if joiner_config_path is not None:
        extra = joiner_config_path.read_text(encoding="utf-8")
    source_extra = None if source_config_path is None else source_config_path.read_text(encoding="utf-8")
    result = measure_join(
        directory.expanduser().resolve(),
        timeout_s=timeout_s,
        joiner_config_extra=extra,
        source_config_extra=source_extra,
    )
    document = result.to_json()
    state.emit(document, lambda: state.stdout.print_json(data=document))

"""`[debug] received_votes_path`: off by default, validated, and a log that survives a torn last record."""

from __future__ import annotations

from pathlib import Path

import pytest

from gusu.consensus.messages import Vote, VoteKind, decode_message
from gusu.errors import ConfigError
from gusu.ledger.types import Address, Hash, Height, Round
from gusu.node.config import load_config
from gusu.node.debug import ReceivedMessageLog, read_received_messages


def _vote(round_: int) -> Vote:
    return Vote(
        kind=VoteKind.PREVOTE,
        chain_id="debug-test",
        height=Height(3),
        round=Round(round_),
        block_hash=Hash(b"\x07" * 32),
        timestamp_ms=1_700_000_000_000,
        validator=Address(b"\x01" * 20),
        signature=b"\x02" * 64,
    )


def test_the_setting_is_off_by_default_relative_to_the_node_directory_and_checked(tmp_path: Path) -> None:
    assert load_config(tmp_path).received_votes_path is None
    (tmp_path / "config.toml").write_text('[debug]\nreceived_votes_path = "votes.log"\n')
    assert load_config(tmp_path).received_votes_path == tmp_path / "votes.log"
    (tmp_path / "config.toml").write_text("[debug]\nreceived_votes_path = 1\n")
    with pytest.raises(ConfigError, match="received_votes_path"):
        load_config(tmp_path)
    (tmp_path / "config.toml").write_text('[debug]\nreceived_vote_path = "x"\n')
    with pytest.raises(ConfigError, match="unknown setting"):
        load_config(tmp_path)


def test_messages_are_readable_at_once_and_a_torn_tail_is_cut_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "received.log"
    log = ReceivedMessageLog(path)
    log.on_message(_vote(0))
    # Flushed per message: another process (the test reading a killed node's file) sees it now.
    assert [decode_message(raw) for raw in read_received_messages(path)] == [_vote(0)]
    log.close()
    with path.open("ab") as file:
        file.write(b"\x00\x00\x01\x00torn")  # what a crash in the middle of an append would leave
    log = ReceivedMessageLog(path)
    log.on_message(_vote(1))
    log.close()
    assert [decode_message(raw) for raw in read_received_messages(path)] == [_vote(0), _vote(1)]

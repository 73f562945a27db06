"""Alert rules and their evaluation: observations of the node in, firing/resolved transitions out.

Everything here is pure. The monitor (`gusu.console.monitor`) gathers an
`Observation` from the node's documented API on an interval, calls
`compute_evaluation` with the rules and each rule's `RuleState`, stores the new
states, and records and notifies the transitions. A rule that is firing stays
firing, without a new transition, until its condition clears, so an operator is
told once per incident, not once per interval.

Rules (`RULE_KINDS`), with the meaning of their threshold:

* ``node_down``: the node has not answered for at least `threshold` seconds (0: at once);
* ``height_stalled``: the height has not changed for at least `threshold` seconds
  (a node that does not answer does not advance either, so this fires for a stopped node too);
* ``peers_below``: the node answers with fewer than `threshold` peers;
* ``mempool_full``: the pool holds at least `threshold` % of `capacity` transactions
  (the node's ``[mempool] transactions_max``, which its API does not report);
* ``certificate_expiring``: a certificate the node depends on (its own, a trusted CA, a peer's;
  the metric ``gusu_certificate_expiry_seconds``) expires within `threshold` days.

A rule whose observation is missing (the node is down, or the metric is absent)
keeps its state: no information is neither a fault nor a recovery.

A rule applies to one chain or to every chain the console watches (`chain_id`:
None for all, `DEFAULT_CHAIN_ID` for the console's own endpoint, else a chain
of the chains page). The monitor evaluates each chain's rules against that
chain's observation, with a separate state per rule and chain
(`is_rule_for_chain`), so one incident on one chain fires once, for that chain.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final, Literal
from urllib.parse import urlsplit

from gusu.console.access import AccessInputError

RULE_KINDS: Final = ("node_down", "height_stalled", "peers_below", "mempool_full", "certificate_expiring")
THRESHOLD_RANGES: Final[Mapping[str, tuple[int, int]]] = {
    "node_down": (0, 86_400),
    "height_stalled": (1, 86_400),
    "peers_below": (1, 1_000),
    "mempool_full": (1, 100),
    "certificate_expiring": (1, 3_650),
}
"""Accepted thresholds per kind: seconds, seconds, peers, percent, days."""
CAPACITY_RANGE: Final = (1, 10_000_000)
"""Accepted mempool capacities (transactions); the node's default transactions_max is 200,000."""
CAPACITY_DEFAULT: Final = 200_000
RULE_NAME_LENGTH_MAX: Final = 64
URL_LENGTH_MAX: Final = 256
EMAIL_LENGTH_MAX: Final = 254
_EMAIL_PATTERN: Final = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
SECONDS_PER_DAY: Final = 86_400
DEFAULT_CHAIN_ID: Final = 0
"""The chain number of the console's own endpoint (``--endpoint``); chains of the chains page count from 1."""
ALL_CHAINS: Final = "all"
"""The rule form's value for a rule that applies to every chain."""

Status = Literal["firing", "resolved"]


@dataclass(frozen=True, slots=True)
class AlertRule:
    rule_id: int
    name: str
    kind: str
    threshold: int
    capacity: int | None
    """Mempool capacity in transactions (``mempool_full`` only)."""
    webhook_url: str | None
    email_to: str | None
    enabled: bool
    chain_id: int | None = None
    """The chain it watches: None for every chain, `DEFAULT_CHAIN_ID` for the console's endpoint, else a chain's
    number in the console store."""


def is_rule_for_chain(rule: AlertRule, chain_id: int) -> bool:
    """Whether `rule` is evaluated for the chain numbered `chain_id`."""
    return rule.chain_id is None or rule.chain_id == chain_id


@dataclass(frozen=True, slots=True)
class CertificateExpiry:
    kind: str
    """node, ca or peer (the metric's label)."""
    subject: str
    seconds_left: float


@dataclass(frozen=True, slots=True)
class Observation:
    """What one look at the node saw; None where it could not tell."""

    time_ms: int
    reachable: bool
    height: int | None = None
    peers: int | None = None
    mempool_transactions: int | None = None
    certificates: tuple[CertificateExpiry, ...] | None = None
    """None when the metrics could not be read (or were not asked for)."""


@dataclass(frozen=True, slots=True)
class RuleState:
    """What a rule remembers between observations."""

    firing: bool = False
    height: int | None = None
    """The last height seen (height_stalled)."""
    height_since_ms: int | None = None
    """When that height was first seen."""
    down_since_ms: int | None = None
    """When the node stopped answering (node_down)."""


@dataclass(frozen=True, slots=True)
class Transition:
    rule: AlertRule
    status: Status
    time_ms: int
    observed: str
    """The observed value that decided it, as text (seconds, peers, percent, days and subject...)."""


# --- evaluation -----------------------------------------------------------------------


def _stalled_state(state: RuleState, observation: Observation) -> RuleState:
    if observation.height is not None and observation.height != state.height:
        return replace(state, height=observation.height, height_since_ms=observation.time_ms)
    if state.height_since_ms is None:
        # Never saw a height yet: the stall is counted from the first look.
        return replace(state, height_since_ms=observation.time_ms)
    return state


def _down_state(state: RuleState, observation: Observation) -> RuleState:
    if observation.reachable:
        return replace(state, down_since_ms=None)
    if state.down_since_ms is None:
        return replace(state, down_since_ms=observation.time_ms)
    return state


def compute_condition(rule: AlertRule, state: RuleState, observation: Observation) -> tuple[bool | None, str]:
    """(whether the rule's condition holds, the observed value); None when the observation cannot tell.

    `state` is the rule's state already updated with `observation` (see `compute_evaluation`).
    """
    if rule.kind == "node_down":
        if state.down_since_ms is None:
            return False, "0"
        down_s = (observation.time_ms - state.down_since_ms) // 1000
        return down_s >= rule.threshold, str(down_s)
    if rule.kind == "height_stalled":
        assert state.height_since_ms is not None
        stalled_s = (observation.time_ms - state.height_since_ms) // 1000
        return stalled_s >= rule.threshold, str(stalled_s)
    if rule.kind == "peers_below":
        if observation.peers is None:
            return None, ""
        return observation.peers < rule.threshold, str(observation.peers)
    if rule.kind == "mempool_full":
        if observation.mempool_transactions is None:
            return None, ""
        capacity = rule.capacity or CAPACITY_DEFAULT
        percent = observation.mempool_transactions * 100 // capacity
        return observation.mempool_transactions * 100 >= rule.threshold * capacity, str(percent)
    assert rule.kind == "certificate_expiring", rule.kind
    if observation.certificates is None:
        return None, ""
    if not observation.certificates:
        return False, ""
    soonest = min(observation.certificates, key=lambda certificate: certificate.seconds_left)
    days = int(soonest.seconds_left // SECONDS_PER_DAY)
    holds = soonest.seconds_left < rule.threshold * SECONDS_PER_DAY
    return holds, f"{days} ({soonest.kind} {soonest.subject})"


def compute_evaluation(
    rules: Sequence[AlertRule], states: Mapping[int, RuleState], observation: Observation
) -> tuple[dict[int, RuleState], list[Transition]]:
    """The rules' new states and the transitions `observation` causes (disabled rules are skipped and forgotten).

    A transition happens only when a rule's firing flag changes: ``firing`` once when its condition starts
    to hold, ``resolved`` once when it stops; nothing while it stays the same.
    """
    new_states: dict[int, RuleState] = {}
    transitions: list[Transition] = []
    for rule in rules:
        if not rule.enabled:
            continue
        state = states.get(rule.rule_id, RuleState())
        if rule.kind == "height_stalled":
            state = _stalled_state(state, observation)
        elif rule.kind == "node_down":
            state = _down_state(state, observation)
        holds, observed = compute_condition(rule, state, observation)
        if holds is not None and holds != state.firing:
            state = replace(state, firing=holds)
            transitions.append(Transition(rule, "firing" if holds else "resolved", observation.time_ms, observed))
        new_states[rule.rule_id] = state
    return new_states, transitions


def is_metrics_needed(rules: Sequence[AlertRule]) -> bool:
    return any(rule.enabled and rule.kind == "certificate_expiring" for rule in rules)


_METRIC_LINE: Final = re.compile(
    r'gusu_certificate_expiry_seconds\{kind="((?:[^"\\]|\\.)*)",subject="((?:[^"\\]|\\.)*)"\}\s+(\S+)'
)
METRICS_LINES_MAX: Final = 100_000


def compute_certificates(metrics_text: str) -> tuple[CertificateExpiry, ...]:
    """The certificate expiries in a Prometheus text page; malformed lines are skipped."""
    found: list[CertificateExpiry] = []
    for line in metrics_text.splitlines()[:METRICS_LINES_MAX]:
        match = _METRIC_LINE.match(line)
        if match is None:
            continue
        try:
            seconds = float(match.group(3))
        except ValueError:
            continue
        if seconds != seconds:  # NaN
            continue
        found.append(CertificateExpiry(_unescape(match.group(1)), _unescape(match.group(2)), seconds))
    return tuple(found)


def _unescape(label: str) -> str:
    return re.sub(r"\\(.)", lambda match: "\n" if match.group(1) == "n" else match.group(1), label)


# --- validation of the rule form -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleInput:
    """A validated new rule (the store gives it an id)."""

    name: str
    kind: str
    threshold: int
    capacity: int | None
    webhook_url: str | None
    email_to: str | None
    chain_id: int | None = None
    """None: every chain (see `AlertRule.chain_id`)."""


def parse_rule_chain(text: str, chain_ids: Collection[int]) -> int | None:
    """The rule form's chain field: ``all`` (None), or the number of a chain the console knows (`chain_ids`,
    with `DEFAULT_CHAIN_ID`); AccessInputError otherwise."""
    text = text.strip()
    if text in ("", ALL_CHAINS):
        return None
    if text.isascii() and text.isdigit() and len(text) <= 18:
        chain_id = int(text)
        if chain_id == DEFAULT_CHAIN_ID or chain_id in chain_ids:
            return chain_id
    raise AccessInputError("error.alert_chain_invalid", "choose all chains or one chain the console knows")


def validate_webhook_url(url: str) -> None:
    """An http(s) URL with a host, no credentials and no fragment, at most `URL_LENGTH_MAX` characters."""
    if len(url) > URL_LENGTH_MAX:
        raise AccessInputError(
            "error.alert_url_long",
            f"the webhook URL must have at most {URL_LENGTH_MAX} characters",
            count=URL_LENGTH_MAX,
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.password is not None
        or parts.fragment
        or port == 0
        or any(character.isspace() or unicodedata.category(character).startswith("C") for character in url)
    ):
        raise AccessInputError(
            "error.alert_url_invalid",
            "the webhook URL must be http:// or https:// with a host, without user name, password or #fragment",
        )


def validate_email(address: str) -> None:
    if len(address) > EMAIL_LENGTH_MAX or _EMAIL_PATTERN.fullmatch(address) is None:
        raise AccessInputError("error.alert_email_invalid", "the e-mail address must look like name@example.com")


def _parse_int(text: str, low: int, high: int, key: str, what: str) -> int:
    stripped = text.strip()
    if not stripped.isascii() or not stripped.isdigit() or len(stripped) > 12 or not low <= int(stripped) <= high:
        raise AccessInputError(key, f"{what} must be a whole number from {low} to {high}", low=low, high=high)
    return int(stripped)


def parse_rule_form(form: Mapping[str, str], chain_ids: Collection[int] = ()) -> RuleInput:
    """Validates the rules page's form (name, kind, threshold, capacity, webhook_url, email_to, chain: `all`
    or one of `chain_ids` or `DEFAULT_CHAIN_ID`)."""
    name = form.get("name", "").strip()
    if (
        not name
        or len(name) > RULE_NAME_LENGTH_MAX
        or any(unicodedata.category(character).startswith("C") for character in name)
    ):
        raise AccessInputError(
            "error.alert_name_invalid",
            f"the rule name must have 1 to {RULE_NAME_LENGTH_MAX} characters and no control characters",
            count=RULE_NAME_LENGTH_MAX,
        )
    kind = form.get("kind", "")
    if kind not in RULE_KINDS:
        raise AccessInputError("error.alert_kind_invalid", f"the rule kind must be one of {', '.join(RULE_KINDS)}")
    low, high = THRESHOLD_RANGES[kind]
    threshold = _parse_int(form.get("threshold", ""), low, high, "error.alert_threshold_invalid", "the threshold")
    capacity: int | None = None
    if kind == "mempool_full":
        capacity_text = form.get("capacity", "").strip()
        capacity = (
            CAPACITY_DEFAULT
            if not capacity_text
            else _parse_int(capacity_text, *CAPACITY_RANGE, "error.alert_capacity_invalid", "the capacity")
        )
    webhook_url = form.get("webhook_url", "").strip() or None
    if webhook_url is not None:
        validate_webhook_url(webhook_url)
    email_to = form.get("email_to", "").strip() or None
    if email_to is not None:
        validate_email(email_to)
    chain_id = parse_rule_chain(form.get("chain", ALL_CHAINS), chain_ids)
    return RuleInput(name, kind, threshold, capacity, webhook_url, email_to, chain_id)

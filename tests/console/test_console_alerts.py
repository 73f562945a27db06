"""Alert rules evaluated directly: observations in, firing/resolved transitions out (gusu.console.alerts)."""

from __future__ import annotations

import pytest

from gusu.console.access import AccessInputError
from gusu.console.alerts import (
    AlertRule,
    CertificateExpiry,
    Observation,
    RuleState,
    compute_certificates,
    compute_evaluation,
    parse_rule_form,
    validate_webhook_url,
)


def _rule(kind: str, threshold: int, rule_id: int = 1, capacity: int | None = None, enabled: bool = True) -> AlertRule:
    return AlertRule(rule_id, f"rule {rule_id}", kind, threshold, capacity, None, None, enabled)


def _run(rules: list[AlertRule], observations: list[Observation]) -> list[list[tuple[int, str, str]]]:
    """The transitions of each observation in turn, as (rule id, status, observed)."""
    states: dict[int, RuleState] = {}
    seen = []
    for observation in observations:
        states, transitions = compute_evaluation(rules, states, observation)
        seen.append([(t.rule.rule_id, t.status, t.observed) for t in transitions])
    return seen


def _up(time_s: int, height: int = 5, peers: int = 3, mempool: int = 0) -> Observation:
    return Observation(time_s * 1000, True, height, peers, mempool, None)


def _down(time_s: int) -> Observation:
    return Observation(time_s * 1000, False)


def test_node_down_fires_once_after_its_delay_and_resolves_once() -> None:
    seen = _run(
        [_rule("node_down", 10)], [_up(0), _down(1), _down(5), _down(11), _down(20), _down(30), _up(31), _up(40)]
    )
    assert seen == [[], [], [], [(1, "firing", "10")], [], [], [(1, "resolved", "0")], []]


def test_node_down_with_no_delay_fires_at_the_first_failed_look() -> None:
    assert _run([_rule("node_down", 0)], [_down(0), _down(1), _up(2)]) == [
        [(1, "firing", "0")],
        [],
        [(1, "resolved", "0")],
    ]


def test_height_stalled_counts_from_the_last_change_and_a_stopped_node_stalls_too() -> None:
    observations = [_up(0, 1), _up(20, 2), _up(40, 2), _up(50, 2), _down(60), _down(70), _up(80, 3), _up(90, 3)]
    seen = _run([_rule("height_stalled", 30)], observations)
    assert seen == [[], [], [], [(1, "firing", "30")], [], [], [(1, "resolved", "0")], []]


def test_height_stalled_counts_from_the_first_look_when_the_node_was_never_seen() -> None:
    assert _run([_rule("height_stalled", 5)], [_down(0), _down(4), _down(5)]) == [[], [], [(1, "firing", "5")]]


def test_peers_below_keeps_its_state_while_the_node_cannot_tell() -> None:
    observations = [_up(0, peers=3), _up(1, peers=1), _down(2), _up(3, peers=1), _up(4, peers=2), _down(5)]
    assert _run([_rule("peers_below", 2)], observations) == [
        [],
        [(1, "firing", "1")],
        [],
        [],
        [(1, "resolved", "2")],
        [],
    ]


def test_mempool_full_is_a_percentage_of_the_rules_capacity() -> None:
    rule = _rule("mempool_full", 80, capacity=1000)
    observations = [_up(0, mempool=799), _up(1, mempool=800), _up(2, mempool=1000), _up(3, mempool=10)]
    assert _run([rule], observations) == [[], [(1, "firing", "80")], [], [(1, "resolved", "1")]]


def test_certificate_expiring_names_the_soonest_certificate() -> None:
    def seen(time_s: int, *certificates: CertificateExpiry) -> Observation:
        return Observation(time_s * 1000, True, 1, 1, 0, tuple(certificates))

    soon = CertificateExpiry("peer", "CN=node2,O=bank-b", 5 * 86400 + 10)
    later = CertificateExpiry("ca", "CN=bank-a CA", 400 * 86400)
    renewed = CertificateExpiry("peer", "CN=node2,O=bank-b", 365 * 86400)
    observations = [
        seen(0, later),
        seen(1, later, soon),
        Observation(2000, True, 1, 1, 0, None),  # metrics unreadable: no change
        seen(3, later, renewed),
    ]
    assert _run([_rule("certificate_expiring", 30)], observations) == [
        [],
        [(1, "firing", "5 (peer CN=node2,O=bank-b)")],
        [],
        [(1, "resolved", "365 (peer CN=node2,O=bank-b)")],
    ]


def test_rules_are_independent_and_disabled_rules_are_skipped() -> None:
    rules = [_rule("node_down", 0, 1), _rule("peers_below", 5, 2), _rule("node_down", 0, 3, enabled=False)]
    states, transitions = compute_evaluation(rules, {}, _up(0, peers=1))
    assert [(t.rule.rule_id, t.status) for t in transitions] == [(2, "firing")]
    assert set(states) == {1, 2}
    states, transitions = compute_evaluation(rules, states, _down(1))
    assert [(t.rule.rule_id, t.status) for t in transitions] == [(1, "firing")]
    assert states[2].firing  # still firing, not repeated


def test_certificates_are_read_from_the_metrics_text() -> None:
    text = (
        "# HELP gusu_certificate_expiry_seconds Seconds until ...\n"
        "# TYPE gusu_certificate_expiry_seconds gauge\n"
        'gusu_certificate_expiry_seconds{kind="node",subject="CN=node1,O=\\"bank\\" a"} 86400.5\n'
        'gusu_certificate_expiry_seconds{kind="ca",subject="CN=x"} -10\n'
        'gusu_certificate_expiry_seconds{kind="ca",subject="CN=y"} NaN\n'
        'gusu_certificate_expiry_seconds{kind="ca",subject="CN=z"} garbage\n'
        "gusu_height 12\n"
    )
    assert compute_certificates(text) == (
        CertificateExpiry("node", 'CN=node1,O="bank" a', 86400.5),
        CertificateExpiry("ca", "CN=x", -10.0),
    )


def test_rule_form_is_validated_with_catalogue_messages() -> None:
    parsed = parse_rule_form(
        {"name": " 出块停滞 ", "kind": "mempool_full", "threshold": "90", "capacity": "", "webhook_url": ""}
    )
    assert (parsed.name, parsed.kind, parsed.threshold, parsed.capacity, parsed.webhook_url) == (
        "出块停滞",
        "mempool_full",
        90,
        200_000,
        None,
    )
    bad = [
        ({"name": "", "kind": "node_down", "threshold": "0"}, "error.alert_name_invalid"),
        ({"name": "x\x00", "kind": "node_down", "threshold": "0"}, "error.alert_name_invalid"),
        ({"name": "x", "kind": "reboot", "threshold": "0"}, "error.alert_kind_invalid"),
        ({"name": "x", "kind": "mempool_full", "threshold": "101"}, "error.alert_threshold_invalid"),
        ({"name": "x", "kind": "height_stalled", "threshold": "0"}, "error.alert_threshold_invalid"),
        ({"name": "x", "kind": "peers_below", "threshold": "-1"}, "error.alert_threshold_invalid"),
        ({"name": "x", "kind": "peers_below", "threshold": "٣"}, "error.alert_threshold_invalid"),
        ({"name": "x", "kind": "mempool_full", "threshold": "5", "capacity": "0"}, "error.alert_capacity_invalid"),
        ({"name": "x", "kind": "node_down", "threshold": "0", "email_to": "nobody"}, "error.alert_email_invalid"),
        (
            {"name": "x", "kind": "node_down", "threshold": "0", "webhook_url": "ftp://example.com/"},
            "error.alert_url_invalid",
        ),
    ]
    for form, key in bad:
        with pytest.raises(AccessInputError) as raised:
            parse_rule_form(form)
        assert raised.value.key == key, form


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "http://",
        "http://user:secret@example.com/hook",
        "https://example.com/hook#x",
        "http://example.com:99999/",
        "http://example.com/a b",
        "http://example.com/\r\nX-Injected: 1",
        "https://example.com/" + "a" * 300,
    ],
)
def test_hostile_webhook_urls_are_refused(url: str) -> None:
    with pytest.raises(AccessInputError):
        validate_webhook_url(url)


def test_good_webhook_urls_pass() -> None:
    for url in ("http://127.0.0.1:9000/hook", "https://alerts.example.com/gusu?team=ops", "http://[::1]:8080/"):
        validate_webhook_url(url)

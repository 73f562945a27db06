"""Chain creation checks certificates before a network starts, and says what is wrong: each node's TLS
certificate against its organisation's CA in the genesis (`find_certificate_problems`)."""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path

from gusu.console.chains import find_certificate_problems
from gusu.console.i18n import load_catalogues
from gusu.eval.network import LocalNetwork, find_free_base_port
from gusu.node.config import load_config

SCRYPT_N = 1024


def test_node_certificates_are_checked_against_their_organisations_ca(tmp_path: Path) -> None:
    network = LocalNetwork.create(
        tmp_path / "net", organizations=2, base_port=find_free_base_port(2), scrypt_n=SCRYPT_N
    )
    assert find_certificate_problems(network) == []
    # Years from now every certificate has expired: each node is named.
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=365 * 30)
    expired = find_certificate_problems(network, now=later)
    assert sorted(problem.params["node"] for problem in expired) == sorted(node.name for node in network.nodes)
    # A node given another organisation's certificate: its CA did not sign it.
    first, second = network.nodes[0], network.nodes[1]
    assert first.organization != second.organization
    certificate = second.directory / load_config(second.directory).p2p.tls_certificate
    shutil.copyfile(first.directory / load_config(first.directory).p2p.tls_certificate, certificate)
    problems = find_certificate_problems(network)
    assert [(problem.key, problem.params["node"]) for problem in problems] == [
        ("chains.problem.certificate", second.name)
    ]
    for language, catalogue in load_catalogues().items():
        text = catalogue.get_message(problems[0].key, **problems[0].params)
        assert second.name in text, language
    # A certificate file that is not one at all.
    certificate.write_text("not a certificate", encoding="utf-8")
    assert [problem.params["node"] for problem in find_certificate_problems(network)] == [second.name]

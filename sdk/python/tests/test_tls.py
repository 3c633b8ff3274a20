"""The SDK against a server speaking HTTPS (``serve --tls-cert --tls-key``) whose
certificate a private CA signed: it logs and reads back with that CA in its
``ssl_context``, and refuses the server without it (certificates are verified).

The certificates are made with the ``openssl`` command line, as an operator would."""

from __future__ import annotations

import pathlib
import shutil
import ssl
import subprocess
from typing import Tuple

import pytest

import sightline

from conftest import CREDIT_FEATURES, ServerProcess, count_predictions, row, unique


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_pki(dir: pathlib.Path) -> Tuple[pathlib.Path, pathlib.Path, pathlib.Path]:
    """A CA, and a certificate it signed for 127.0.0.1 and localhost: (ca, cert, key)."""
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is missing (scripts/install-test-tools installs it)", pytrace=False)
    ca_key, ca, key, csr = dir / "ca.key", dir / "ca.pem", dir / "server.key", dir / "server.csr"
    cert, ext = dir / "server.pem", dir / "ext.cnf"
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    openssl(
        "req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca), "-days", "2",
        "-subj", "/CN=Sightline SDK test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    openssl("req", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost")
    # What Python's strict verification (3.13+) expects of a server certificate.
    ext.write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n"
    )
    openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
        "-out", str(cert), "-days", "2", "-extfile", str(ext),
    )  # fmt: skip
    key.chmod(0o600)
    return ca, cert, key


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    dir = tmp_path_factory.mktemp("tls")
    ca, cert, key = make_pki(dir)
    context = ssl.create_default_context(cafile=str(ca))
    server = ServerProcess(dir / "data", "--tls-cert", str(cert), "--tls-key", str(key), ssl_context=context)
    yield server, context
    server.stop()
    assert server.proc.returncode == 0, f"the server exited with {server.proc.returncode}"


def test_logs_and_reads_back_over_https_with_the_private_ca(tls_server):
    server, context = tls_server
    assert server.url.startswith("https://")
    model = unique("tls")
    with sightline.Client(server.url, ssl_context=context, version="v1", flush_interval=0.2) as c:
        assert c.health()
        c.create_model(model, "binary_classification", CREDIT_FEATURES, classes=["no", "yes"], positive_class="yes")
        for i in range(20):
            c.log_prediction(model, row(i), "yes")
        assert c.flush(10)
        assert count_predictions(c, model) == 20
        stats = c.stats()
        assert stats["accepted"] == 20 and stats["rejected"] == 0 and stats["dropped"] == 0


def test_the_server_is_refused_without_its_ca(tls_server):
    server, _ = tls_server
    # The default context trusts the system's CAs only: the handshake fails, no request
    # is sent.
    with sightline.Client(server.url) as c:
        assert not c.health()

"""HTTPS: `proxy.tls_cert_file` and `proxy.tls_key_file` make the gateway serve TLS on its one port.

A small team's gateway on a server carries client keys over the network; with a certificate it can
do so without a reverse proxy in front. The OpenAI SDK is pointed at it with the certificate as its
trust anchor, as a team would with an internal CA.
"""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.conftest import Gateway, Simulator

KEY = "key-tls-000000000001"


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "poolgate test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_the_openai_sdk_talks_to_the_gateway_over_https(
    make_gateway: Any, simulator: Simulator, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    gw: Gateway = make_gateway(
        env={"POOLGATE_PROXY__TLS_CERT_FILE": str(cert), "POOLGATE_PROXY__TLS_KEY_FILE": str(key)}
    )
    gw.add_key(KEY, "tls")
    gw.ca_file = str(cert)
    gw.start()
    assert f"poolgate listening on https://127.0.0.1:{gw.port}" in gw.output()
    client = openai.OpenAI(base_url=gw.v1, api_key="unused", http_client=httpx.Client(verify=str(cert)))
    simulator.script(KEY, {"text": "over TLS"})
    answer = client.chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == "over TLS"
    with client.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}], stream=True
    ) as stream:
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    # Plain HTTP on the same port is not served; an unknown certificate is refused by the client.
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{gw.port}/healthz", timeout=5)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{gw.base_url}/healthz", timeout=5)


def test_a_half_or_broken_tls_setting_stops_the_start_with_a_sentence(make_gateway: Any, tmp_path: Path) -> None:
    cert, _ = self_signed(tmp_path)
    half: Gateway = make_gateway(env={"POOLGATE_PROXY__TLS_CERT_FILE": str(cert)}, name="half")
    with pytest.raises(RuntimeError) as err:
        half.start()
    assert "set both" in str(err.value) and "Traceback" not in str(err.value)
    missing: Gateway = make_gateway(
        env={"POOLGATE_PROXY__TLS_CERT_FILE": str(cert), "POOLGATE_PROXY__TLS_KEY_FILE": str(tmp_path / "nope.pem")},
        name="missing",
    )
    with pytest.raises(RuntimeError) as err:
        missing.start()
    assert "cannot serve HTTPS" in str(err.value) and "Traceback" not in str(err.value)

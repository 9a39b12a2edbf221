"""MQTT over TLS with a client certificate, against a mosquitto TLS listener."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.mosquitto import Mosquitto, Subscriber, TLSFiles
from tests.unit.builders import RecordingMetrics, message, sia

from alarmrx.config import MQTTSettings
from alarmrx.journal.journal import Journal
from alarmrx.mqtt.broker import Backoff
from alarmrx.mqtt.outbox import CURSOR
from alarmrx.mqtt.publish import MQTTPublisher

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[str, ec.EllipticCurvePrivateKey],
    *,
    ca: bool = False,
    ip: str | None = None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer[0]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(minutes=5))
        .not_valid_after(NOW + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ip is not None:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))])
        builder = builder.add_extension(san, critical=False)
    return builder.sign(issuer[1], hashes.SHA256())


def _write(
    directory: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> tuple[Path, Path]:
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def make_pki(directory: Path, ca_name: str = "test CA") -> tuple[TLSFiles, TLSFiles]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate: (server, client)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _issue(ca_name, ca_key, (ca_name, ca_key), ca=True)
    ca_path, _ = _write(directory, "ca", ca_cert, ca_key)
    server_key, client_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    server = _write(
        directory,
        "server",
        _issue("127.0.0.1", server_key, (ca_name, ca_key), ip="127.0.0.1"),
        server_key,
    )
    client = _write(
        directory, "client", _issue("alarmrx", client_key, (ca_name, ca_key)), client_key
    )
    return TLSFiles(ca_path, *server), TLSFiles(ca_path, *client)


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[Mosquitto, TLSFiles]]:
    server, client = make_pki(tmp_path / "pki")
    broker = Mosquitto(tmp_path / "broker", tls=server)
    broker.start()
    yield broker, client
    broker.kill()


def _publisher(
    url: str, client: TLSFiles, journal: Journal, metrics: RecordingMetrics | None = None
) -> MQTTPublisher:
    settings = MQTTSettings(
        url=url, tls_ca=client.ca, tls_cert=client.cert, tls_key=client.key, publish_timeout_s=5.0
    )
    return MQTTPublisher(
        settings,
        receiver_id="rx1",
        journal=journal,
        accounts={},
        version="0.1.0",
        backoff=Backoff(0.05, 0.2),
        metrics=metrics,
    )


async def test_publishes_over_tls_with_a_client_certificate(
    tls_broker: tuple[Mosquitto, TLSFiles], tmp_path: Path
) -> None:
    broker, client = tls_broker
    tls = aiomqtt.TLSParameters(
        ca_certs=str(client.ca), certfile=str(client.cert), keyfile=str(client.key)
    )
    async with await Journal.open(tmp_path / "journal.db", fsync=False) as journal:
        await journal.append(message("1234", sia("FA", "alarm", zone=1)))
        async with Subscriber(broker.port, "alarmrx/v1/events/#", tls_params=tls) as sub:
            task = asyncio.create_task(_publisher(broker.url, client, journal).run())
            try:
                await sub.wait_until(lambda s: s.ids == {"rx1:1:0"})
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)


async def test_an_untrusted_broker_is_never_published_to(
    tls_broker: tuple[Mosquitto, TLSFiles], tmp_path: Path
) -> None:
    broker, _ = tls_broker
    _, stranger = make_pki(tmp_path / "other", ca_name="another CA")
    async with await Journal.open(tmp_path / "journal.db", fsync=False) as journal:
        await journal.append(message("1234", sia("FA", "alarm", zone=1)))
        metrics = RecordingMetrics()
        task = asyncio.create_task(_publisher(broker.url, stranger, journal, metrics).run())
        await metrics.wait_until(lambda m: len(m.failures) >= 3)
        assert not task.done()
        assert set(metrics.failures) == {"connect"}
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert await journal.load_cursor(CURSOR) == 0

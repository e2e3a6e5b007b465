"""`dtf worker` as a real process: detected resources, published taxonomy, and TLS admission.

Schedulers and workers are real processes on loopback. The TLS scheduler gets certificates
made here with `cryptography`: a cluster CA signing the scheduler's and the trusted
worker's certificates, and a rogue CA signing an impostor's.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import dask
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from distributed import Client

from dtf.cluster.fleet import WorkerInfo, live_workers
from dtf.cluster.worker import TlsFiles
from dtf.errors import ClusterError
from dtf.hardware.cpu import usable_cores

FAKE_SMI = Path(__file__).resolve().parents[1] / "fixtures" / "fake_smi"
DTF = str(Path(sys.executable).with_name("dtf"))
JOIN_TIMEOUT = 90.0


@dataclass
class Proc:
    popen: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[list[Proc]]:
    """Processes a test starts; each is stopped with its whole process group afterwards."""
    started: list[Proc] = []
    yield started
    for proc in started:
        _stop(proc.popen)


def _start(procs: list[Proc], argv: Sequence[str], log: Path, env: dict[str, str]) -> Proc:
    with log.open("wb") as out:
        popen = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT,
                                 env=env, start_new_session=True)  # fmt: skip
    proc = Proc(popen, log)
    procs.append(proc)
    return proc


def _stop(popen: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        if popen.poll() is not None:
            break
        try:
            os.killpg(popen.pid, sig)
        except ProcessLookupError:
            break
        try:
            popen.wait(wait)
        except subprocess.TimeoutExpired:
            continue


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _scheduler(procs: list[Proc], tmp: Path, tls_args: Sequence[str] = ()) -> tuple[str, Proc]:
    port = _free_port()
    protocol = "tls" if tls_args else "tcp"
    argv = [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
            "--port", str(port), "--no-dashboard", "--protocol", protocol, *tls_args]  # fmt: skip
    proc = _start(procs, argv, tmp / "scheduler.log", dict(os.environ))
    deadline = time.monotonic() + JOIN_TIMEOUT
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return f"{protocol}://127.0.0.1:{port}", proc
        except OSError:
            assert proc.popen.poll() is None, proc.text()
            time.sleep(0.2)
    raise AssertionError(f"the scheduler did not listen: {proc.text()}")


def _wait_for(address: str, name: str, tls: TlsFiles | None = None) -> dict[str, WorkerInfo]:
    security = tls.security() if tls else None
    deadline = time.monotonic() + JOIN_TIMEOUT
    while time.monotonic() < deadline:
        workers = {w.name: w for w in live_workers(address, security=security)}
        if name in workers:
            return workers
        time.sleep(0.5)
    raise AssertionError(f"worker {name} did not join {address}")


def test_dtf_worker_advertises_detected_resources_and_publishes_its_taxonomy(
    procs: list[Proc], tmp_path: Path
) -> None:
    address, _ = _scheduler(procs, tmp_path)
    env = {**os.environ, "PATH": f"{FAKE_SMI}{os.pathsep}{os.environ['PATH']}",
           "DTF_HARDWARE_SKIP": "nvml", "FAKE_NVIDIA_SMI": "a100-80gb-x2",
           "FAKE_ROCM_SMI": "no-driver"}  # fmt: skip
    argv = [DTF, "worker", "--scheduler", address, "--name", "gpu-box", "--nthreads", "1",
            "--no-browsers", "--resources", "licence_matlab=3"]  # fmt: skip
    _start(procs, argv, tmp_path / "worker.log", env)
    worker = _wait_for(address, "gpu-box")["gpu-box"]
    assert worker.resources == {
        "cpu": usable_cores(), "cuda": 2, "cuda_cc": 8.0, "gpu_mem_gb": 80, "licence_matlab": 3,
    }  # fmt: skip
    assert worker.hardware is not None
    assert worker.hardware.host == socket.gethostname()
    assert worker.hardware.nvidia.source == "nvidia-smi"
    assert [d.name for d in worker.hardware.nvidia.devices] == ["NVIDIA A100-SXM4-80GB"] * 2
    assert worker.hardware.browsers_probed is False
    assert worker.simulated == ()
    with Client(address, set_as_default=False, timeout=30) as client:
        ran_on = client.submit(socket.gethostname, pure=False, resources={"cuda": 2}).result(60)
    assert ran_on == socket.gethostname()


def test_a_bare_dask_worker_with_the_preload_detects_and_publishes(
    procs: list[Proc], tmp_path: Path
) -> None:
    address, _ = _scheduler(procs, tmp_path)
    argv = [sys.executable, "-m", "distributed.cli.dask_worker", address, "--name", "bare",
            "--nthreads", "1", "--no-dashboard", "--preload", "dtf.cluster.publish"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("DTF_")}
    _start(procs, argv, tmp_path / "worker.log", env)
    worker = _wait_for(address, "bare")["bare"]
    assert worker.hardware is not None
    assert worker.hardware.cpu.logical_cores == usable_cores()
    assert worker.hardware.browsers_probed is False
    assert worker.simulated is None  # no dtf profile: the worker does not claim either way


def test_dtf_worker_dry_run_prints_the_dask_command() -> None:
    proc = subprocess.run(
        [DTF, "worker", "--scheduler", "tcp://10.0.0.5:8786", "--no-browsers", "--name", "w",
         "--resources", "cpu=0,x=1", "--host", "10.0.0.9", "--worker-port", "9000:9100",
         "--dry-run"],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "COLUMNS": "400"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "distributed.cli.dask_worker tcp://10.0.0.5:8786 --name w" in proc.stdout
    assert "--resources x=1 --preload dtf.cluster.publish" in proc.stdout
    assert proc.stdout.rstrip().endswith("--host 10.0.0.9 --worker-port 9000:9100")


def test_dtf_worker_refuses_a_tls_address_without_certificates() -> None:
    proc = subprocess.run([DTF, "worker", "--scheduler", "tls://10.0.0.5:8786"],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "COLUMNS": "400"})  # fmt: skip
    assert proc.returncode == 2
    assert "is a TLS scheduler: pass --tls-ca-file, --tls-cert and --tls-key" in proc.stderr


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _cert(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
) -> x509.Certificate:  # fmt: skip
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder().subject_name(name)
        .issuer_name(issuer.subject if issuer else name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )  # fmt: skip
    if issuer is not None:
        san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        usage = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(folder: Path, stem: str, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate,
           ca: Path) -> TlsFiles:  # fmt: skip
    key_path, cert_path = folder / f"{stem}.key", folder / f"{stem}.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return TlsFiles(ca, cert_path, key_path)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TlsFiles]:
    """TLS files for the scheduler, a trusted worker, and an impostor (trusts the CA, but
    its own certificate is signed by a rogue CA)."""
    folder = tmp_path_factory.mktemp("pki")
    ca_key, rogue_key = _key(), _key()
    ca, rogue = _cert("dtf cluster CA", ca_key, None, ca_key), _cert("rogue", rogue_key, None,
                                                                     rogue_key)  # fmt: skip
    ca_path = folder / "ca.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files = {}
    for stem, issuer, issuer_key in (("scheduler", ca, ca_key), ("worker", ca, ca_key),
                                     ("impostor", rogue, rogue_key)):  # fmt: skip
        key = _key()
        files[stem] = _write(folder, stem, key, _cert(stem, key, issuer, issuer_key), ca_path)
    return files


def test_a_tls_scheduler_admits_only_workers_with_a_certificate_from_its_ca(
    procs: list[Proc], tmp_path: Path, pki: dict[str, TlsFiles]
) -> None:
    address, scheduler = _scheduler(procs, tmp_path, pki["scheduler"].dask_args())
    port = int(address.rsplit(":", 1)[1])
    base = [DTF, "worker", "--scheduler", address, "--no-browsers", "--nthreads", "1"]

    impostor = _start(procs, [*base, "--name", "impostor", *pki["impostor"].dask_args()],
                      tmp_path / "impostor.log", dict(os.environ))  # fmt: skip
    plain_argv = [sys.executable, "-m", "distributed.cli.dask_worker",
                  f"tcp://127.0.0.1:{port}", "--name", "plain", "--no-dashboard"]  # fmt: skip
    plain = _start(procs, plain_argv, tmp_path / "plain.log", dict(os.environ))
    _start(procs, [*base, "--name", "trusted", *pki["worker"].dask_args()],
           tmp_path / "trusted.log", dict(os.environ))  # fmt: skip

    workers = _wait_for(address, "trusted", pki["worker"])
    # The refused workers give up on their own (Dask's nanny fails to start): wait for that.
    assert impostor.popen.wait(JOIN_TIMEOUT) != 0, impostor.text()
    assert plain.popen.wait(JOIN_TIMEOUT) != 0, plain.text()
    workers = {w.name: w for w in live_workers(address, security=pki["worker"].security())}
    assert sorted(workers) == ["trusted"]
    assert workers["trusted"].hardware is not None
    assert "certificate verify failed" in scheduler.text()


def test_a_tls_scheduler_refuses_clients_without_a_certificate(
    procs: list[Proc], tmp_path: Path, pki: dict[str, TlsFiles]
) -> None:
    address, _ = _scheduler(procs, tmp_path, pki["scheduler"].dask_args())
    port = int(address.rsplit(":", 1)[1])
    with pytest.raises(ClusterError, match="is a TLS scheduler"):
        live_workers(address)
    # The flow passes no Security: Dask's own TLS settings are what it reads the fleet with.
    tls = pki["worker"]
    settings = {"distributed.comm.tls.ca-file": str(tls.ca_file),
                "distributed.comm.tls.client.cert": str(tls.cert),
                "distributed.comm.tls.client.key": str(tls.key)}  # fmt: skip
    with dask.config.set(settings):
        assert live_workers(address) == []
    # A client that trusts the CA but presents no certificate of its own is cut off.
    ctx = ssl.create_default_context(cafile=str(pki["worker"].ca_file))
    ctx.check_hostname = False
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        pytest.raises(ssl.SSLError, match="CERTIFICATE_REQUIRED"),
        ctx.wrap_socket(raw) as conn,
    ):
        # TLS 1.3 delivers the refusal on the first read; an accepted client would read the
        # scheduler's first bytes instead, failing this test.
        conn.recv(1)

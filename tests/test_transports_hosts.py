"""A hosts file naming the shared engine (unix), a TLS engine and an SSH engine: one
moorage serves all three, a request per host and one for all at once (`host=*`), and
a host's `url` and `error` never show a credential.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_IMAGE, LiveServer, docker, run_sleeper
from tests.transport_harness import SshEngine, TlsEngine, ssh_engine, tls_engine

__all__ = ["ssh_engine", "tls_engine"]

pytestmark = pytest.mark.slow


def hosts_file(path: Path, tls: TlsEngine, ssh: SshEngine, *, bad_ssh_key: bool = False) -> Path:
    key = ssh.client / ("other_ed25519" if bad_ssh_key else "id_ed25519")
    path.write_text(
        f"""
[[hosts]]
name = "local"
url = "unix:///var/run/docker.sock"
default = true

[[hosts]]
name = "tls"
url = "{tls.url}"
[hosts.tls]
ca = "{tls.certs / "ca.pem"}"
cert = "{tls.certs / "cert.pem"}"
key = "{tls.certs / "key.pem"}"

[[hosts]]
name = "ssh"
url = "{ssh.url}"
[hosts.ssh]
key = "{key}"
known_hosts = "{ssh.client / "known_hosts"}"
"""
    )
    return path


def wait_hosts(server: LiveServer, want: dict[str, str]) -> list[dict[str, object]]:
    """GET /v1/hosts until each named host is in the state wanted (or 30 s)."""
    deadline = time.monotonic() + 30
    while True:
        hosts: list[dict[str, object]] = httpx.get(f"{server.url}/v1/hosts", timeout=10).json()
        states = {str(h["name"]): h["state"] for h in hosts}
        if all(states.get(n) == s for n, s in want.items()) or time.monotonic() > deadline:
            return hosts
        time.sleep(0.2)


def test_a_unix_a_tls_and_an_ssh_host_each_and_all_at_once(
    tls_engine: TlsEngine, ssh_engine: SshEngine, tmp_path: Path
) -> None:
    mark = f"mt-hosts-{uuid.uuid4().hex[:8]}"
    local = run_sleeper(TEST_IMAGE, f"{mark}-local", "--label", f"mt.hosts={mark}")
    ids = {"local": docker("inspect", "-f", "{{.Id}}", local).strip()}
    for host, engine in (("tls", tls_engine), ("ssh", ssh_engine)):
        ids[host] = engine.docker(
            "run", "-d", "--name", f"{mark}-{host}", "--label", f"mt.hosts={mark}",
            TEST_IMAGE, "sleep", "600",
        ).strip()  # fmt: skip
    server = LiveServer(
        env={"MOORAGE_HOSTS_FILE": str(hosts_file(tmp_path / "hosts.toml", tls_engine, ssh_engine))}
    ).start()
    try:
        hosts = wait_hosts(server, {"local": "up", "tls": "up", "ssh": "up"})
        by_name = {h["name"]: h for h in hosts}
        assert {n: by_name[n]["state"] for n in ids} == dict.fromkeys(ids, "up"), hosts
        assert by_name["tls"]["url"] == tls_engine.url
        assert by_name["ssh"]["url"] == ssh_engine.url  # user@host:port, nothing else
        for h in ids:
            assert by_name[h]["api_version"] == "1.41"

        label = {"label": f"mt.hosts={mark}"}
        for host, cid in ids.items():
            r = httpx.get(f"{server.url}/v1/containers", params={**label, "host": host}, timeout=30)
            assert r.status_code == 200, r.text
            assert [c["id"] for c in r.json()] == [cid], (host, r.text)

        r = httpx.get(f"{server.url}/v1/containers", params={**label, "host": "*"}, timeout=30)
        assert r.status_code == 200, r.text
        assert "moorage-unavailable-hosts" not in r.headers
        assert sorted((c["host"], c["id"]) for c in r.json()) == sorted(ids.items())
    finally:
        server.stop()
        docker("rm", "-f", ids["local"], check=False)
        tls_engine.docker("rm", "-f", ids["tls"], check=False)
        ssh_engine.docker("rm", "-f", ids["ssh"], check=False)


def test_a_refused_key_is_the_host_error_and_shows_no_key(
    tls_engine: TlsEngine, ssh_engine: SshEngine, tmp_path: Path
) -> None:
    """The SSH host with a key its sshd refuses is down with the cause as its error;
    the other hosts answer as if nothing were wrong."""
    path = hosts_file(tmp_path / "hosts.toml", tls_engine, ssh_engine, bad_ssh_key=True)
    server = LiveServer(env={"MOORAGE_HOSTS_FILE": str(path)}).start()
    try:
        hosts = wait_hosts(server, {"local": "up", "tls": "up", "ssh": "down"})
        by_name = {h["name"]: h for h in hosts}
        assert by_name["ssh"]["state"] == "down", hosts
        error = str(by_name["ssh"]["error"])
        assert "refused the key for user root" in error, error
        for line in ssh_engine.secrets() + tls_engine.secrets():
            assert line not in str(hosts)
        assert by_name["tls"]["state"] == "up"
        r = httpx.get(f"{server.url}/v1/containers", params={"host": "*"}, timeout=30)
        assert r.status_code == 200, r.text
        assert r.headers["moorage-unavailable-hosts"] == "ssh"
        r = httpx.get(f"{server.url}/v1/containers", params={"host": "ssh"}, timeout=30)
        assert r.status_code == 503
        assert r.json()["code"] == "host-unavailable"
    finally:
        server.stop()

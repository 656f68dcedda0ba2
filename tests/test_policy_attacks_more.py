"""More attacks on the merged policy (issue 11, an attacker's second pass).

The whole app runs with tokens and a strict policy (one bind prefix, one registry,
no root exec) against the real engine. Each attempt asserts the 403 naming the rule
AND that nothing got through on the host: no container made or started, no exec
made, no file written outside the prefix, no secret read, no image made.

The bypasses this pass found (and the policy now closes):
- entering a container made outside moorage that moorage would not make: an exec or
  a terminal in a privileged / host-pid / host-network container, an archive `GET`
  of a host file through its bind (`/etc/shadow`), an archive `PUT` into its bind;
- a commit that launders an image from a registry that is not allowed under an
  allowed name (as a tag would), or names a disallowed registry;
- keys spelled with the long s (U+017F), which Go's decoder reads as `s`: a second
  `Source` (long s) of `/` beside an allowed one in a mount, `User` (long s) `0` in an exec.
"""

from __future__ import annotations

import io
import os
import tarfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import errors
from app.engine import Engine
from app.settings import Settings
from tests.conftest import TEST_IMAGE, docker, exists, guarded_engine, in_process, inspect, tar_of
from tests.conftest import refused as policy_refused
from tests.conftest import test_labels as labels
from tests.test_security import bearer, write_tokens

pytestmark = pytest.mark.engine

LABEL_FLAGS = [a for k, v in labels().items() for a in ("--label", f"{k}={v}")]
OPERATOR, ADMIN = bearer("operator"), bearer("admin")
SECRET = "root:$6$not-really-the-shadow-file$:19000:0:99999:7:::"
EVIL = "evil.example:5000"
ATTEMPTS: list[str] = []


def attempts(*table: tuple[Any, ...]) -> pytest.MarkDecorator:
    ATTEMPTS.extend(str(row[0]) for row in table)
    return pytest.mark.parametrize("case", list(table), ids=[str(row[0]) for row in table])


# -- set-up ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`data/` is the allowed prefix; `outside/` stands for the host (`shadow` for
    /etc/shadow); `data/link` is a symlink the attacker made under the prefix."""
    root = tmp_path_factory.mktemp("attacks-more")
    (root / "data" / "sub").mkdir(parents=True)
    (root / "outside").mkdir()
    (root / "outside" / "shadow").write_text(SECRET)
    (root / "outside" / "shadow").chmod(0o600)
    os.symlink(root / "outside", root / "data" / "link")
    return root


@pytest.fixture(scope="module")
def policy_file(base: Path) -> Path:
    path = base / "policy.toml"
    path.write_text(
        f'bind_mount_prefixes = ["{base}/data"]\n'
        'allowed_registries = ["docker.io"]\n'
        "exec_allow_root = false\n"
    )
    return path


@pytest.fixture(scope="module")
async def api(
    policy_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    tokens = write_tokens(tmp_path_factory.mktemp("more-tokens") / "tokens.toml")
    settings = Settings(policy_file=policy_file, tokens_file=tokens, audit_db=":memory:")
    async with in_process(settings, peer=("127.0.0.1", 5555), client_timeout=120) as (_, c):
        c.headers.update(ADMIN)
        yield c


@pytest.fixture(scope="module")
async def engine(policy_file: Path) -> AsyncIterator[Engine]:
    async with guarded_engine(policy_file) as eng:
        yield eng


@pytest.fixture
def name() -> Iterator[str]:
    """A name for what a test makes; every container of that prefix is removed after."""
    prefix = f"more-{uuid.uuid4().hex[:8]}"
    yield prefix
    ids = docker("ps", "-aq", "--filter", f"name={prefix}", check=False).split()
    if ids:
        docker("rm", "-fv", *ids, check=False)
    vols = docker("volume", "ls", "-q", "--filter", f"name={prefix}", check=False).split()
    if vols:
        docker("volume", "rm", "-f", *vols, check=False)


def refused(r: httpx.Response, rule: str) -> None:
    if rule == "validation":  # the route's model already refuses the spelling
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "validation-error"
        return
    policy_refused(r, rule)


async def engine_refused(call: Awaitable[Any], rule: str) -> None:
    with pytest.raises(errors.PolicyViolation) as info:
        await call
    assert info.value.detail.startswith(rule + ":"), info.value.detail


def outside(name: str, *flags: str, user: str = "1000") -> str:
    """A container made outside moorage (or before the policy), sleeping."""
    docker(
        "run", "-d", *LABEL_FLAGS, "--user", user, *flags, "--name", name, TEST_IMAGE,
        "sleep", "600",
    )  # fmt: skip
    return name


def no_execs(name: str) -> None:
    assert not inspect("container", name).get("ExecIDs"), "an exec was made"


def spec(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "image": TEST_IMAGE,
        "name": name,
        "command": ["sh", "-c", "echo pwned > /x/pwned; sleep 600"],
        "network": "none",
        "user": "1000",
        "labels": labels(),
        "start": False,
        **extra,
    }


def raw(host: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"Image": TEST_IMAGE, "Cmd": ["true"], "Labels": labels(), **top, "HostConfig": host}


def untouched(base: Path) -> None:
    """Nothing was written outside the prefix."""
    assert sorted(p.name for p in (base / "outside").iterdir()) == ["shadow"]
    assert (base / "outside" / "shadow").read_text() == SECRET


# -- 1. entering a container moorage would not make (bypasses, now closed) --------------

OUTSIDE_CONTAINERS = (
    ("exec-in-privileged", ["--privileged"], "allow_privileged"),
    ("exec-in-host-pid", ["--pid", "host"], "allow_host_namespaces"),
    ("exec-in-host-network", ["--network", "host"], "allow_host_namespaces"),
    ("exec-in-host-ipc", ["--ipc", "host"], "allow_host_namespaces"),
    ("exec-in-host-uts", ["--uts", "host"], "allow_host_namespaces"),
    ("exec-in-bind-of-outside", ["-v", "{base}/outside:/host"], "bind_mount_prefixes"),
    ("exec-in-bind-through-link", ["-v", "{base}/data/link:/host"], "bind_mount_prefixes"),
    ("exec-in-mount-of-outside", ["--mount", "type=bind,src={base}/outside,dst=/host"],
     "bind_mount_prefixes"),
)  # fmt: skip


@attempts(*OUTSIDE_CONTAINERS)
async def test_exec_in_a_container_made_outside_refused(
    api: httpx.AsyncClient, base: Path, name: str, case: tuple[str, list[str], str]
) -> None:
    _, flags, rule = case
    outside(name, *[f.format(base=base) for f in flags])
    body = {"cmd": ["sh", "-c", "echo pwned > /host/pwned; cat /host/shadow"]}
    r = await api.post(f"/v1/containers/{name}/exec", json=body)
    refused(r, rule)
    assert SECRET not in r.text
    no_execs(name)
    untouched(base)


@attempts(
    ("terminal-in-privileged", ["--privileged"], "allow_privileged"),
    ("terminal-in-host-pid", ["--pid", "host"], "allow_host_namespaces"),
)
async def test_terminal_in_a_container_made_outside_refused(
    api: httpx.AsyncClient, name: str, case: tuple[str, list[str], str]
) -> None:
    _, flags, rule = case
    outside(name, *flags)
    body = {"interactive": True, "tty": True, "cmd": ["sh"]}
    refused(await api.post(f"/v1/containers/{name}/exec", json=body, headers=ADMIN), rule)
    no_execs(name)


@attempts(
    ("exec-in-a-joiner-of-host-pid", "pid", "allow_host_namespaces"),
    ("exec-in-a-joiner-of-privileged", "privileged", "allow_privileged"),
)
async def test_exec_in_a_container_joined_to_one_made_outside_refused(
    api: httpx.AsyncClient, name: str, case: tuple[str, str, str]
) -> None:
    _, kind, rule = case
    flags = ["--pid", "host"] if kind == "pid" else ["--privileged"]
    outside(f"{name}-b", *flags)
    outside(name, "--pid", f"container:{name}-b")
    refused(await api.post(f"/v1/containers/{name}/exec", json={"cmd": ["id"]}), rule)
    no_execs(name)


async def test_archive_get_of_a_host_file_through_a_bind_refused(
    api: httpx.AsyncClient, base: Path, name: str
) -> None:
    ATTEMPTS.append("archive-get-shadow-through-bind")
    outside(name, "-v", f"{base}/outside:/host:ro")
    r = await api.get(f"/v1/containers/{name}/archive", params={"path": "/host/shadow"})
    refused(r, "bind_mount_prefixes")
    assert SECRET not in r.text


async def test_archive_get_from_a_privileged_container_refused(
    api: httpx.AsyncClient, name: str
) -> None:
    ATTEMPTS.append("archive-get-from-privileged")
    outside(name, "--privileged")
    r = await api.get(f"/v1/containers/{name}/archive", params={"path": "/etc/passwd"})
    refused(r, "allow_privileged")


@attempts(
    ("archive-put-into-outside-bind", "/host"),
    ("archive-put-at-root-with-path-in-tar", "/"),
)
async def test_archive_put_into_a_bind_of_the_host_refused(
    api: httpx.AsyncClient, base: Path, name: str, case: tuple[str, str]
) -> None:
    _, path = case
    outside(name, "-v", f"{base}/outside:/host")
    member = "pwned" if path == "/host" else "host/pwned"
    r = await api.put(
        f"/v1/containers/{name}/archive",
        params={"path": path},
        content=tar_of({member: b"pwned\n"}),
        headers={"Content-Type": "application/x-tar"},
    )
    refused(r, "bind_mount_prefixes")
    untouched(base)


async def test_archive_put_and_exec_in_a_container_within_the_policy_still_work(
    api: httpx.AsyncClient, base: Path, name: str
) -> None:
    """The control: a container that keeps to the prefix is entered as before."""
    outside(name, "-v", f"{base}/data/sub:/x")
    r = await api.put(
        f"/v1/containers/{name}/archive",
        params={"path": "/x"},
        content=tar_of({"ok": b"fine\n"}),
        headers={"Content-Type": "application/x-tar"},
    )
    assert r.status_code in (200, 204), r.text
    assert (base / "data" / "sub" / "ok").read_text() == "fine\n"
    r = await api.post(f"/v1/containers/{name}/exec", json={"cmd": ["cat", "/x/ok"]})
    assert r.status_code == 200, r.text
    assert "fine" in r.text
    r = await api.get(f"/v1/containers/{name}/archive", params={"path": "/x/ok"})
    assert r.status_code == 200, r.text
    (base / "data" / "sub" / "ok").unlink()


async def test_recreate_of_a_privileged_container_made_outside_refused(
    api: httpx.AsyncClient, name: str
) -> None:
    ATTEMPTS.append("recreate-privileged")
    outside(name, "--privileged")
    before = inspect("container", name)["Id"]
    r = await api.post(f"/v1/containers/{name}/recreate", json={"image": TEST_IMAGE, "pull": False})
    refused(r, "allow_privileged")
    assert inspect("container", name)["Id"] == before  # the old one, as it was
    ids = docker("ps", "-aq", "--filter", f"name={name}").split()
    assert len(ids) == 1


# -- 2. commit: a new name for content (bypass, now closed) -----------------------------


@pytest.fixture(scope="module")
def evil_image() -> Iterator[str]:
    """Content that only a disallowed registry's name holds (as a pull from it would)."""
    tag = f"{EVIL}/evil-{uuid.uuid4().hex[:8]}:1"
    cid = docker("create", *LABEL_FLAGS, TEST_IMAGE, "true").strip()
    docker("commit", "-c", "LABEL moorage.evil=1", cid, tag)
    docker("rm", cid)
    yield tag
    docker("rmi", "-f", tag, check=False)


async def test_commit_launders_an_image_refused(
    api: httpx.AsyncClient, evil_image: str, name: str
) -> None:
    ATTEMPTS.append("commit-launders-disallowed-content")
    docker("run", "-d", *LABEL_FLAGS, "--name", name, evil_image, "sleep", "600")
    repo = f"docker.io/library/{name}"
    r = await api.post(f"/v1/containers/{name}/commit", json={"repository": repo, "tag": "1"})
    refused(r, "allowed_registries")
    assert not exists("image", f"{repo}:1")


async def test_commit_to_a_disallowed_registry_refused(api: httpx.AsyncClient, name: str) -> None:
    ATTEMPTS.append("commit-to-disallowed-registry")
    outside(name)
    repo = f"{EVIL}/{name}"
    r = await api.post(f"/v1/containers/{name}/commit", json={"repository": repo, "tag": "1"})
    refused(r, "allowed_registries")
    assert not exists("image", f"{repo}:1")


async def test_create_from_disallowed_content_refused(
    api: httpx.AsyncClient, evil_image: str, name: str
) -> None:
    ATTEMPTS.append("create-from-disallowed-registry-image")
    r = await api.post("/v1/containers", json=spec(name, image=evil_image, pull="never"))
    refused(r, "allowed_registries")
    assert not exists("container", name)


async def test_tag_of_laundered_content_refused(api: httpx.AsyncClient, evil_image: str) -> None:
    ATTEMPTS.append("tag-evil-under-allowed-name")
    repo = f"docker.io/library/laundered-{uuid.uuid4().hex[:8]}"
    r = await api.post(f"/v1/images/{evil_image}/tag", json={"repository": repo, "tag": "1"})
    refused(r, "allowed_registries")
    assert not exists("image", f"{repo}:1")


# -- 3. Go's case folding: U+017F is s (bypasses in nested keys, now closed) ------------------


@attempts(
    ("mount-second-source-long-s", {"Type": "bind", "Source": "{data}", "\u017fource": "/",
                                    "Target": "/x"}, "duplicate-keys"),
    ("mount-only-long-s-source", {"Type": "bind", "\u017fource": "{outside}", "Target": "/x"},
     "bind_mount_prefixes"),
    ("mount-volume-options-long-s", {"Type": "volume", "Target": "/x", "VolumeOptions": {
        "DriverConfig": {"Name": "local", "Option\u017f": {
            "type": "none", "o": "bind", "device": "/"}}}}, "bind_mount_prefixes"),
    ("mount-volume-options-key-long-s", {"Type": "volume", "Target": "/x", "VolumeOption\u017f": {
        "DriverConfig": {"Name": "local", "Options": {
            "type": "none", "o": "bind", "device": "/"}}}}, "bind_mount_prefixes"),
)  # fmt: skip
async def test_mount_keys_spelled_with_long_s_refused(
    engine: Engine, base: Path, name: str, case: tuple[str, dict[str, Any], str]
) -> None:
    _, mount, rule = case
    body = raw({"Mounts": [_fill(mount, base, name)]})
    call = engine.json("POST", "containers/create", params={"name": name}, json=body)
    await engine_refused(call, rule)
    assert not exists("container", name)


@attempts(
    ("hostconfig-privileged-long-s-key", {"Privileged": False, "SecurityOpt": [],
                                          "\u017fecurityOpt": ["seccomp=unconfined"]},
     "allow_unconfined"),
    ("hostconfig-binds-long-s", {"Bind\u017f": ["/:/host"]}, "bind_mount_prefixes"),
    ("hostconfig-devices-long-s", {"Device\u017f": [{"PathOnHost": "/dev/sda",
                                                "PathInContainer": "/dev/sda",
                                                "CgroupPermissions": "rwm"}]}, "allow_devices"),
    ("hostconfig-userns-long-s", {"U\u017fernsMode": "host"}, "allow_host_namespaces"),
    ("hostconfig-network-kelvin", {"Networ\u212aMode": "host"}, "allow_host_namespaces"),
    ("hostconfig-capadd-in-four-spellings", {"CapAdd": [], "CapAdd ": [], "CAPADD": None,
                                       "capadd": ["SYS_ADMIN"]}, "allowed_capabilities"),
)  # fmt: skip
async def test_host_config_keys_spelled_with_long_s_refused(
    engine: Engine, name: str, case: tuple[str, dict[str, Any], str]
) -> None:
    _, host, rule = case
    call = engine.json("POST", "containers/create", params={"name": name}, json=raw(host))
    with pytest.raises(errors.PolicyViolation) as info:
        await call
    # The same key twice (in two spellings) is refused as ambiguous, or judged.
    assert info.value.detail.split(":")[0] in (rule, "duplicate-keys", "unknown-field")
    assert not exists("container", name)


async def test_exec_user_spelled_with_long_s_refused(engine: Engine, name: str) -> None:
    ATTEMPTS.append("exec-U\u017fer-0")
    outside(name)
    body = {"Cmd": ["id"], "U\u017fer": "0", "AttachStdout": True}
    await engine_refused(
        engine.json("POST", f"containers/{name}/exec", json=body), "exec_allow_root"
    )
    no_execs(name)


# -- 4. through the routes: spellings and fields the catalogues did not try (refused) ------

ROUTE_ATTEMPTS = (
    ("bind-dotdot-after-prefix", {"mounts": [{"type": "bind", "source": "{data}/../outside",
                                              "target": "/x"}]}, "bind_mount_prefixes"),
    ("bind-double-slash-dotdot", {"mounts": [{"type": "bind", "source": "{data}//sub/../../outside",
                                              "target": "/x"}]}, "bind_mount_prefixes"),
    ("bind-trailing-dot-of-outside", {"mounts": [{"type": "bind", "source": "{outside}/.",
                                                  "target": "/x"}]}, "bind_mount_prefixes"),
    ("bind-symlink-under-prefix", {"mounts": [{"type": "bind", "source": "{data}/link",
                                               "target": "/x"}]}, "bind_mount_prefixes"),
    ("bind-into-symlink-under-prefix", {"volumes": ["{data}/link/:/x:rw"]},
     "bind_mount_prefixes"),
    ("volumes-dict-symlink", {"volumes": {"{data}/link": {"bind": "/x", "mode": "rw"}}},
     "bind_mount_prefixes"),
    ("volumes-list-z-mode", {"volumes": ["{outside}:/x:rw,z"]}, "bind_mount_prefixes"),
    ("bind-proc-rw", {"volumes": ["/proc:/x:rw"]}, "bind_mount_prefixes"),
    ("bind-sys-rshared", {"mounts": [{"type": "bind", "source": "/sys", "target": "/x",
                                      "propagation": "rshared"}]}, "bind_mount_prefixes"),
    ("bind-docker-sock-via-dotdot", {"volumes": ["/var/run/../run/docker.sock:/x"]},
     "bind_mount_prefixes"),
    ("bind-relative-dotdot", {"volumes": ["../../../etc:/x"]}, "validation"),
    ("volume-driver-opts-bind-root", {"mounts": [{"type": "volume", "source": "{name}-v",
                                                  "target": "/x", "driver_config": {
                                                      "name": "local", "options": {
                                                          "type": "none", "o": "bind",
                                                          "device": "{outside}"}}}]},
     "bind_mount_prefixes"),
    ("volume-driver-opts-through-link", {"mounts": [{"type": "volume", "source": "{name}-v",
                                                     "target": "/x", "driver_config": {
                                                         "name": "local", "options": {
                                                             "type": "none", "o": "bind",
                                                             "device": "{data}/link"}}}]},
     "bind_mount_prefixes"),
    ("cap-add-lowercase-cap-prefix", {"security": {"cap_add": ["cap_sys_admin"]}},
     "allowed_capabilities"),
    ("cap-add-all", {"security": {"cap_add": ["all"]}}, "allowed_capabilities"),
    ("cap-add-padded", {"security": {"cap_add": [" SYS_MODULE "]}}, "validation"),
    ("security-opt-systempaths", {"security": {"security_opt": ["systempaths=unconfined"]}},
     "allow_unconfined"),
    ("security-opt-apparmor-other", {"security": {"security_opt": ["apparmor=unconfined-ish"]}},
     "allow_unconfined"),
    ("security-opt-label-colon", {"security": {"security_opt": ["label:disable"]}},
     "allow_unconfined"),
    ("security-opt-seccomp-allow-kelvin", {"security": {"security_opt": [
        'seccomp={"defaultAction":"SCMP_ACT_ALLOW"}']}}, "allow_unconfined"),
    ("device-cgroup-rule", {"device_cgroup_rules": ["b *:* rwm"]}, "allow_devices"),
    ("devices-disk", {"security": {"devices": ["/dev/sda:/dev/sda:rwm"]}}, "allow_devices"),
    ("device-requests-gpu", {"device_requests": [{"count": -1, "capabilities": [["gpu"]]}]},
     "allow_devices"),
    ("userns-host", {"security": {"userns_mode": "host"}}, "allow_host_namespaces"),
    ("cgroupns-host", {"cgroupns": "host"}, "allow_host_namespaces"),
    ("uts-host-upper", {"uts_mode": "HOST"}, "validation"),
    ("ipc-host-padded", {"security": {"ipc_mode": " host"}}, "validation"),
    ("runtime-other", {"runtime": "io.containerd.runsc.v1"}, "allow_unconfined"),
    ("log-driver-syslog-unix", {"log_config": {"type": "syslog", "config": {
        "syslog-address": "unix:///var/run/docker.sock"}}}, "allowed_log_drivers"),
    ("log-driver-fluentd-case", {"log_config": {"type": "Fluentd"}}, "validation"),
    ("cgroup-parent-root", {"cgroup_parent": "/"}, "allowed_cgroup_parents"),
    ("oom-score-adj-negative", {"oom_score_adj": -1000}, "oom_score_adj"),
    ("oom-kill-disable-unlimited", {"oom_kill_disable": True}, "oom_kill_disable"),
    ("sysctl-kernel-modprobe", {"security": {"sysctls": {"kernel.modprobe": "/x/pwn"}}},
     "allowed_sysctls"),
    ("networks-list-host", {"network": None, "networks": [{"name": "host"}]},
     "allow_host_namespaces"),
    ("storage-opt-other", {"storage_opt": {"dm.basesize": "1T"}}, "storage_opt"),
)  # fmt: skip


def _fill(value: Any, base: Path, name: str) -> Any:
    if isinstance(value, str):
        return (
            value.replace("{data}", f"{base}/data")
            .replace("{outside}", f"{base}/outside")
            .replace("{name}", name)
        )
    if isinstance(value, dict):
        return {_fill(k, base, name): _fill(v, base, name) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, base, name) for v in value]
    return value


@attempts(*ROUTE_ATTEMPTS)
async def test_route_attempt_refused(
    api: httpx.AsyncClient, base: Path, name: str, case: tuple[str, dict[str, Any], str]
) -> None:
    _, extra, rule = case
    body = spec(name, **_fill(extra, base, name))
    body["start"] = True
    r = await api.post("/v1/containers", json=body)
    refused(r, rule)
    assert not exists("container", name)
    assert not exists("volume", f"{name}-v")
    untouched(base)


async def test_a_bind_under_the_prefix_still_works(
    api: httpx.AsyncClient, base: Path, name: str
) -> None:
    """The control for the table: the same route with an allowed bind starts."""
    r = await api.post(
        "/v1/containers",
        json=spec(name, volumes=[f"{base}/data/sub:/x"], start=True, command=["sleep", "600"]),
    )
    assert r.status_code == 201, r.text


def test_the_catalogue_is_large_enough() -> None:
    assert len(set(ATTEMPTS)) >= 60, len(set(ATTEMPTS))


# -- 5. attach, and symlinks planted through an allowed archive upload ------------------


async def test_attach_to_a_privileged_container_made_outside_refused(
    engine: Engine, name: str
) -> None:
    """A terminal's attach (the hijacked engine call the WebSocket route makes)."""
    ATTEMPTS.append("attach-to-privileged")
    outside(name, "--privileged")
    params = {"stream": True, "stdin": True, "stdout": True, "stderr": True}
    await engine_refused(
        engine.hijack(f"containers/{name}/attach", tty=False, params=params), "allow_privileged"
    )


def _symlink_tar(link: str, target: str, through: str | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(link)
        info.type, info.linkname = tarfile.SYMTYPE, target
        tar.addfile(info)
        if through is not None:
            data = tarfile.TarInfo(f"{link}/{through}")
            data.size = 6
            tar.addfile(data, io.BytesIO(b"pwned\n"))
    return buf.getvalue()


async def test_a_symlink_put_into_an_allowed_bind_does_not_lead_out(
    api: httpx.AsyncClient, base: Path, name: str
) -> None:
    """The upload is allowed (the bind is under the prefix); what it plants is not a
    way out: a file through the link is the engine's breakout, refused, and a bind of
    the link is judged where it resolves."""
    ATTEMPTS.extend(["archive-put-symlink-then-file-through-it", "bind-of-planted-symlink"])
    outside(name, "-v", f"{base}/data/sub:/x")
    r = await api.put(
        f"/v1/containers/{name}/archive",
        params={"path": "/x"},
        content=_symlink_tar("esc", f"{base}/outside", through="pwned"),
        headers={"Content-Type": "application/x-tar"},
    )
    assert r.status_code >= 400 or not (base / "outside" / "pwned").exists(), r.text
    untouched(base)
    r = await api.put(
        f"/v1/containers/{name}/archive",
        params={"path": "/x"},
        content=_symlink_tar("esc2", f"{base}/outside"),
        headers={"Content-Type": "application/x-tar"},
    )
    assert r.status_code in (200, 204), r.text
    planted = base / "data" / "sub" / "esc2"
    try:
        assert planted.is_symlink()
        r = await api.post("/v1/containers", json=spec(f"{name}-b", volumes=[f"{planted}:/x"]))
        refused(r, "bind_mount_prefixes")
        assert not exists("container", f"{name}-b")
        untouched(base)
    finally:
        planted.unlink(missing_ok=True)
        (base / "data" / "sub" / "esc").unlink(missing_ok=True)


async def test_volumes_from_a_writable_bind_above_another_refused(
    api: httpx.AsyncClient, base: Path, name: str
) -> None:
    """`volumes_from` of a container with a writable bind of `data/`, while another
    binds `data/sub`: one more container able to swap `sub` for a symlink, which the
    nesting rule refuses for `volumes` and `mounts` alike."""
    ATTEMPTS.append("volumes-from-a-writable-bind-above-a-bind")
    outside(f"{name}-sub", "-v", f"{base}/data/sub:/s:ro")
    docker("create", *LABEL_FLAGS, "-v", f"{base}/data:/d", "--name", f"{name}-rw", TEST_IMAGE)
    r = await api.post("/v1/containers", json=spec(name, volumes_from=[f"{name}-rw"]))
    refused(r, "bind_mount_prefixes")
    assert not exists("container", name)
    # Read-only, it is no such way: allowed.
    r = await api.post("/v1/containers", json=spec(name, volumes_from=[f"{name}-rw:ro"]))
    assert r.status_code == 201, r.text

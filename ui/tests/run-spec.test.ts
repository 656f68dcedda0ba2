// The run form's text → ContainerSpec, and stats samples → chart points.
import assert from "node:assert/strict";
import { test } from "node:test";
import { EMPTY, FormError, toSpec } from "../src/run/spec";
import { nextPoint } from "../src/stats/samples";
import type { StatsSample } from "../src/api/client";

test("the common fields become a ContainerSpec", () => {
  const spec = toSpec({
    ...EMPTY,
    image: " busybox ",
    name: "web",
    command: "sleep 5",
    ports: "8080:80\n127.0.0.1:5353:53/udp\n[::1]:9000:90",
    env: "A=1\n\nB=two words",
    mounts: "data:/data\n/srv/conf:/conf:ro",
    restart: "unless-stopped",
    health: "true",
    interval: "5",
    extra: '{"labels": {"team": "a"}, "name": "over"}',
  });
  assert.deepEqual(spec, {
    image: "busybox",
    start: true,
    name: "over",
    command: "sleep 5",
    ports: { "80/tcp": 8080, "53/udp": ["127.0.0.1", 5353], "90/tcp": ["::1", 9000] },
    environment: ["A=1", "B=two words"],
    volumes: ["data:/data", "/srv/conf:/conf:ro"],
    restart_policy: { name: "unless-stopped" },
    healthcheck: { test: ["CMD-SHELL", "true"], interval: 5 },
    labels: { team: "a" },
  });
});

test("a bad line names its field", () => {
  assert.throws(() => toSpec({ ...EMPTY, image: "x", ports: "eighty" }), (e: unknown) => e instanceof FormError && e.field === "ports");
  assert.throws(() => toSpec({ ...EMPTY, image: "x", extra: "[1]" }), (e: unknown) => e instanceof FormError && e.field === "extra");
  assert.throws(() => toSpec({ ...EMPTY, image: "x", extra: "{" }), (e: unknown) => e instanceof FormError && e.field === "extra");
});

const sample = (read: string, rx: number, blk: number): StatsSample => ({
  container_id: "c", name: "n", read, cpu_percent: 12.5, online_cpus: 2, memory_usage: 100, memory_limit: 1000,
  memory_percent: 10, network_rx_bytes: rx, network_tx_bytes: 0, block_read_bytes: blk, block_write_bytes: 0, pids: 3,
});

test("counters become rates over the time between samples", () => {
  const a = sample("2026-01-01T00:00:00Z", 1000, 0);
  const b = sample("2026-01-01T00:00:02Z", 5000, 4096);
  assert.equal(nextPoint(undefined, a).rx, 0);
  const p = nextPoint(a, b);
  assert.equal(p.rx, 2000);
  assert.equal(p.read, 2048);
  assert.equal(p.cpu, 12.5);
  // A counter that went back (a restarted container) is no negative rate.
  assert.equal(nextPoint(b, a).rx, 0);
});

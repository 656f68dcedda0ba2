// The alert editor's form ⇄ rule bodies and problem fields, and the Swarm helpers.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ApiError } from "../src/api/client";
import { createBody, EMPTY, errorsOf, formOf, patchBody, summary, type Rule } from "../src/alerts/rules";
import { base64, converging, type Service } from "../src/swarm/swarm";

test("each kind's fields become its `when`, lists split on commas", () => {
  const f = { ...EMPTY, name: " r ", url: " http://h/x ", names: "web-*, db", labels: "app=web" };
  assert.deepEqual(createBody({ ...f, kind: "log", pattern: "ERR", stream: "stderr" }), {
    name: "r", when: { kind: "log", pattern: "ERR", stream: "stderr" }, throttle: 300, enabled: true,
    scope: { hosts: ["*"], labels: ["app=web"], names: ["web-*", "db"] },
    target: { url: "http://h/x", format: "json" },
  });
  assert.deepEqual(createBody({ ...f, kind: "stats", above: "80", for: "30" }).when, { kind: "stats", metric: "cpu_percent", above: 80, for: 30 });
  assert.deepEqual(createBody({ ...f, kind: "event", action: "die, oom", exitNonzero: true }).when,
    { kind: "event", type: "container", action: ["die", "oom"], exit_code_nonzero: true });
  assert.deepEqual(createBody({ ...f, kind: "host", state: ["down", "up"] }).when, { kind: "host", state: ["down", "up"] });
  // Not a number: sent as typed, for the API to name the field.
  assert.equal(createBody({ ...f, throttle: "soon" }).throttle, "soon");
});

test("the secret is write-only: an edit sends it only when changed or removed", () => {
  const f = { ...EMPTY, name: "r", url: "http://h/x" };
  assert.equal("secret" in patchBody(f).target!, false);
  assert.equal(patchBody({ ...f, secret: "k" }).target!.secret, "k");
  assert.equal(patchBody({ ...f, secret: "k", removeSecret: true }).target!.secret, "");
  assert.equal(createBody({ ...f, secret: "k" }).target.secret, "k");
});

test("a stored rule fills the form back", () => {
  const rule = {
    id: "1", name: "hot", when: { kind: "stats", metric: "memory_percent", above: 80, for: 30 },
    scope: { hosts: ["edge-*"], labels: [], names: ["web"] }, target: { url: "http://h/x", format: "ntfy", has_secret: true },
    throttle: 60, enabled: false, created: "", updated: "",
  } as unknown as Rule;
  const f = formOf(rule);
  assert.equal(f.kind, "stats");
  assert.equal(f.above, "80");
  assert.equal(f.hosts, "edge-*");
  assert.equal(f.secret, "");
  assert.equal(summary(rule), "memory_percent above 80 for 30 s");
});

test("each error of a problem document goes to the field it names", () => {
  const e = new ApiError(422, { errors: [
    { loc: ["body", "when", "log", "pattern"], msg: "not a regular expression" },
    { loc: ["body", "target", "url"], msg: "not allowed" },
    { loc: ["body", "scope", "names", 0], msg: "too long" },
  ] } as never);
  assert.deepEqual(errorsOf(e), { "when.pattern": "not a regular expression", "target.url": "not allowed", "scope.names": "too long" });
  assert.deepEqual(errorsOf(new ApiError(409, { detail: "busy" })), { form: "busy" });
});

test("a service converges; secrets travel as base64 of their UTF-8", () => {
  const s = (running: number, desired: number, state?: string) =>
    ({ replicas: { running, desired }, update_status: state ? { state } : null }) as unknown as Service;
  assert.equal(converging(s(1, 3)), true);
  assert.equal(converging(s(3, 3)), false);
  assert.equal(converging(s(3, 3, "updating")), true);
  assert.equal(converging(s(3, 3, "completed")), false);
  assert.equal(base64("hunter2"), "aHVudGVyMg==");
  assert.equal(base64("é"), "w6k=");
});

// An alert rule as the editor's form holds it (text fields), and back: the body the
// API takes, and the field each of its validation errors names.
import { ApiError, type Schemas } from "../api/client";
import { problemText } from "../format";

export type Rule = Schemas["AlertRule"];
export type Delivery = Schemas["AlertDelivery"];
export type Alert = Schemas["Alert"];
export type Kind = "health" | "event" | "log" | "stats" | "host";
export const KINDS: Kind[] = ["health", "event", "log", "stats", "host"];
export const FORMATS = ["json", "slack", "discord", "ntfy"] as const;
export const HEALTH = ["starting", "healthy", "unhealthy"] as const;
export const HOST_STATES = ["down", "connecting", "disabled", "up"] as const;

export interface RuleForm {
  name: string;
  kind: Kind;
  status: string[]; // health
  type: string; // event
  action: string;
  exitNonzero: boolean;
  pattern: string; // log
  stream: "stdout" | "stderr" | "both";
  metric: "cpu_percent" | "memory_percent"; // stats
  above: string;
  for: string;
  state: string[]; // host
  hosts: string;
  labels: string;
  names: string;
  url: string;
  format: (typeof FORMATS)[number];
  secret: string; // write-only: empty keeps the stored one on an edit
  removeSecret: boolean;
  throttle: string;
  enabled: boolean;
}

export const EMPTY: RuleForm = {
  name: "", kind: "health", status: ["unhealthy"], type: "container", action: "die", exitNonzero: false,
  pattern: "", stream: "both", metric: "cpu_percent", above: "90", for: "60", state: ["down"],
  hosts: "*", labels: "", names: "", url: "", format: "json", secret: "", removeSecret: false, throttle: "300", enabled: true,
};

const list = (text: string): string[] => text.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);

/** The form of a stored rule (its secret is never shown: only whether it has one). */
export function formOf(r: Rule): RuleForm {
  const w = r.when as Record<string, unknown> & { kind: Kind };
  const f: RuleForm = { ...EMPTY, name: r.name, kind: w.kind, hosts: r.scope.hosts.join(", "), labels: r.scope.labels.join(", "),
    names: r.scope.names.join(", "), url: r.target.url, format: r.target.format, throttle: String(r.throttle), enabled: r.enabled };
  if (w.kind === "health") f.status = w.status as string[];
  if (w.kind === "event") Object.assign(f, { type: w.type, action: (w.action as string[]).join(", "), exitNonzero: !!w.exit_code_nonzero });
  if (w.kind === "log") Object.assign(f, { pattern: w.pattern, stream: w.stream });
  if (w.kind === "stats") Object.assign(f, { metric: w.metric, above: String(w.above), for: String(w.for ?? 0) });
  if (w.kind === "host") f.state = w.state as string[];
  return f;
}

/** A number field as the API wants it; text that is not a number is sent as it is, so
 * the API's 422 names the field (one source of truth for the bounds). */
const num = (s: string): number => (s.trim() !== "" && Number.isFinite(Number(s)) ? Number(s) : (s as unknown as number));

type When = Schemas["AlertRuleCreate"]["when"];

// openapi-typescript types a discriminated union's `kind` by its schemas' names (the
// mapping), not by the values the API takes: the casts below say what is sent.
function whenOf(f: RuleForm): When {
  return whenValue(f) as unknown as When;
}

function whenValue(f: RuleForm): Record<string, unknown> {
  switch (f.kind) {
    case "health": return { kind: "health", status: f.status as (typeof HEALTH)[number][] };
    case "event": return { kind: "event", type: f.type.trim(), action: list(f.action), exit_code_nonzero: f.exitNonzero };
    case "log": return { kind: "log", pattern: f.pattern, stream: f.stream };
    case "stats": return { kind: "stats", metric: f.metric, above: num(f.above), for: num(f.for) };
    case "host": return { kind: "host", state: f.state as (typeof HOST_STATES)[number][] };
  }
}

/** The body of a new rule. */
export function createBody(f: RuleForm): Schemas["AlertRuleCreate"] {
  return {
    name: f.name.trim(), when: whenOf(f), throttle: num(f.throttle), enabled: f.enabled,
    scope: { hosts: list(f.hosts), labels: list(f.labels), names: list(f.names) },
    target: { url: f.url.trim(), format: f.format, ...(f.secret ? { secret: f.secret } : {}) },
  };
}

/** The body of an edit: everything but the secret, which is sent only when changed. */
export function patchBody(f: RuleForm): Schemas["AlertRulePatch"] {
  const c = createBody(f);
  const secret = f.removeSecret ? "" : f.secret || undefined;
  return { ...c, target: { url: c.target.url, format: c.target.format, ...(secret !== undefined ? { secret } : {}) } };
}

/** The editor's field for each place an error names: "when.pattern", "target.url", … */
export type Errors = Record<string, string>;

export function errorsOf(e: unknown): Errors {
  if (e instanceof ApiError && e.problem?.errors?.length) {
    const out: Errors = {};
    for (const item of e.problem.errors) {
      let loc = item.loc.filter((x) => x !== "body").map(String);
      // A `when` error names the kind's variant first (`when.log.pattern`): skip it.
      if (loc[0] === "when" && loc.length > 2 && (KINDS as string[]).includes(loc[1] ?? "")) loc = ["when", ...loc.slice(2)];
      const key = loc.filter((x) => !/^\d+$/.test(x)).slice(0, 2).join(".") || "form";
      out[key] = [out[key], item.msg].filter(Boolean).join("; ");
    }
    return out;
  }
  return { form: problemText(e) };
}

/** One line saying what a rule watches. */
export function summary(r: Rule): string {
  const w = r.when as Record<string, unknown> & { kind: Kind };
  switch (w.kind) {
    case "health": return `health is ${(w.status as string[]).join(" or ")}`;
    case "event": return `${String(w.type)} ${(w.action as string[]).join(" / ")}${w.exit_code_nonzero ? " (exit code ≠ 0)" : ""}`;
    case "log": return `log line matches /${String(w.pattern)}/ (${String(w.stream)})`;
    case "stats": return `${String(w.metric)} above ${String(w.above)} for ${String(w.for ?? 0)} s`;
    case "host": return `host is ${(w.state as string[]).join(" or ")}`;
  }
}

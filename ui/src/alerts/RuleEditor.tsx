// The rule editor: what to watch (each `when.kind` with its own fields), where (scope),
// where to send (target; the secret is write-only) and how often (throttle). The API
// checks the rule; each error of its problem document is shown on the field it names.
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { api, ok } from "../api/client";
import { createBody, EMPTY, errorsOf, formOf, FORMATS, HEALTH, HOST_STATES, KINDS, patchBody, type Errors, type Kind, type Rule, type RuleForm } from "./rules";

interface Props {
  rule: Rule | null; // null: a new rule
  onSaved: (r: Rule) => void;
  onCancel: () => void;
}

export function RuleEditor({ rule, onSaved, onCancel }: Props) {
  const [f, setF] = useState<RuleForm>(() => (rule ? formOf(rule) : EMPTY));
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);

  const set = <K extends keyof RuleForm>(k: K, v: RuleForm[K]): void => setF((old) => ({ ...old, [k]: v }));
  const text = (k: keyof RuleForm) => (e: Event) => set(k, (e.target as HTMLInputElement).value as never);
  const toggleIn = (k: "status" | "state", v: string): void =>
    set(k, f[k].includes(v) ? f[k].filter((x) => x !== v) : [...f[k], v]);

  // The fields drawn in this render (JSX evaluates in order: filled before the list of
  // errors no field shows, at the end of the form).
  const drawn = new Set<string>(["when.status", "when.state"]);
  const field = (key: string, label: string, input: (p: { id: string; "aria-invalid"?: "true"; "aria-describedby"?: string }) => ComponentChildren, hint?: string) => {
    const id = `rule-${key.replace(/\W/g, "-")}`;
    const err = errors[key];
    drawn.add(key);
    const described = [hint && `${id}-hint`, err && `${id}-err`].filter(Boolean).join(" ") || undefined;
    return (
      <div class="field">
        <label for={id}>{label}</label>
        {input({ id, "aria-invalid": err ? "true" : undefined, "aria-describedby": described })}
        {hint && <span id={`${id}-hint`} class="muted">{hint}</span>}
        {err && <span id={`${id}-err`} class="field-error">{err}</span>}
      </div>
    );
  };
  const checks = (key: "status" | "state", legend: string, options: readonly string[]) => (
    <fieldset class="row" aria-describedby={errors[`when.${key}`] ? `rule-when-${key}-err` : undefined}>
      <legend>{legend}</legend>
      {options.map((o) => (
        <label key={o} class="check"><input type="checkbox" checked={f[key].includes(o)} onChange={() => toggleIn(key, o)} /> {o}</label>
      ))}
      {errors[`when.${key}`] && <span id={`rule-when-${key}-err`} class="field-error">{errors[`when.${key}`]}</span>}
    </fieldset>
  );

  const save = async (): Promise<void> => {
    setErrors({});
    setBusy(true);
    try {
      const saved = rule
        ? ok(await api.PATCH("/v1/alerts/rules/{id}", { params: { path: { id: rule.id } }, body: patchBody(f) }))
        : ok(await api.POST("/v1/alerts/rules", { body: createBody(f) }));
      onSaved(saved);
    } catch (e) {
      setErrors(errorsOf(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="panel" aria-labelledby="h-editor">
      <h2 id="h-editor">{rule ? `Edit rule ${rule.name}` : "New alert rule"}</h2>
      <form class="stack" noValidate onSubmit={(e) => { e.preventDefault(); void save(); }}>
        <div class="row">
          {field("name", "Rule name", (p) => <input {...p} value={f.name} onInput={text("name")} />)}
          {field("when.kind", "When", (p) => (
            <select {...p} value={f.kind} onChange={(e) => set("kind", (e.target as HTMLSelectElement).value as Kind)}>
              {KINDS.map((k) => <option key={k} value={k}>{{ health: "a container's health", event: "an engine event", log: "a log line matches", stats: "CPU or memory stays high", host: "a host's state" }[k]}</option>)}
            </select>
          ))}
        </div>
        {f.kind === "health" && checks("status", "Health status", HEALTH)}
        {f.kind === "host" && checks("state", "Host state", HOST_STATES)}
        {f.kind === "event" && (
          <div class="row">
            {field("when.type", "Event type", (p) => <input {...p} value={f.type} onInput={text("type")} />, "container, image, network, …")}
            {field("when.action", "Actions", (p) => <input {...p} value={f.action} onInput={text("action")} />, "exact, comma-separated: die, oom, …")}
            <label class="check"><input type="checkbox" checked={f.exitNonzero} onChange={() => set("exitNonzero", !f.exitNonzero)} /> Only a non-zero exit code</label>
          </div>
        )}
        {f.kind === "log" && (
          <div class="row">
            {field("when.pattern", "Pattern", (p) => <input {...p} value={f.pattern} onInput={text("pattern")} />, "a regular expression, searched in each line")}
            {field("when.stream", "Stream", (p) => (
              <select {...p} value={f.stream} onChange={(e) => set("stream", (e.target as HTMLSelectElement).value as RuleForm["stream"])}>
                <option value="both">stdout and stderr</option><option value="stdout">stdout</option><option value="stderr">stderr</option>
              </select>
            ))}
          </div>
        )}
        {f.kind === "stats" && (
          <div class="row">
            {field("when.metric", "Metric", (p) => (
              <select {...p} value={f.metric} onChange={(e) => set("metric", (e.target as HTMLSelectElement).value as RuleForm["metric"])}>
                <option value="cpu_percent">CPU %</option><option value="memory_percent">memory %</option>
              </select>
            ))}
            {field("when.above", "Above (%)", (p) => <input {...p} inputMode="decimal" value={f.above} onInput={text("above")} />)}
            {field("when.for", "For (s)", (p) => <input {...p} inputMode="decimal" value={f.for} onInput={text("for")} />)}
          </div>
        )}
        <div class="row">
          {field("scope.hosts", "Hosts", (p) => <input {...p} value={f.hosts} onInput={text("hosts")} />, "globs, comma-separated")}
          {field("scope.labels", "Labels", (p) => <input {...p} value={f.labels} onInput={text("labels")} />, "key or key=value, all must match")}
          {field("scope.names", "Container names", (p) => <input {...p} value={f.names} onInput={text("names")} />, "globs, any may match; empty: all")}
        </div>
        <div class="row">
          {field("target.url", "Webhook URL", (p) => <input {...p} type="url" value={f.url} onInput={text("url")} />, "must start with a prefix of MOORAGE_WEBHOOK_ALLOW")}
          {field("target.format", "Format", (p) => (
            <select {...p} value={f.format} onChange={(e) => set("format", (e.target as HTMLSelectElement).value as RuleForm["format"])}>
              {FORMATS.map((x) => <option key={x} value={x}>{x}</option>)}
            </select>
          ))}
        </div>
        <div class="row">
          {field("target.secret", "Signing secret", (p) => <input {...p} type="password" autoComplete="new-password" value={f.secret} disabled={f.removeSecret} onInput={text("secret")}
            placeholder={rule?.target.has_secret ? "(set: leave empty to keep it)" : "(none)"} />, "write-only: never shown again")}
          {rule?.target.has_secret && <label class="check"><input type="checkbox" checked={f.removeSecret} onChange={() => set("removeSecret", !f.removeSecret)} /> Remove the secret</label>}
          {field("throttle", "Throttle (s)", (p) => <input {...p} inputMode="numeric" value={f.throttle} onInput={text("throttle")} />, "at most one alert per container in this time")}
          <label class="check"><input type="checkbox" checked={f.enabled} onChange={() => set("enabled", !f.enabled)} /> Enabled</label>
        </div>
        {Object.entries(errors).filter(([k]) => !drawn.has(k)).map(([k, v]) => (
          <p key={k} class="error" role="alert">{k === "form" ? v : `${k}: ${v}`}</p>
        ))}
        <div class="buttons">
          <button type="button" onClick={onCancel}>Cancel</button>
          <button type="submit" class="primary" disabled={busy}>{rule ? "Save rule" : "Add rule"}</button>
        </div>
      </form>
    </section>
  );
}

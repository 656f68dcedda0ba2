// Run a container: the common ContainerSpec fields as a form, the rest as JSON; a
// refusal is shown from its problem document, beside the field it names.
import { cloneElement, type JSX } from "preact";
import { useState } from "preact/hooks";
import { ApiError } from "../api/client";
import { useApi } from "../api/hosted";
import { can } from "../api/session";
import { problemText } from "../format";
import type { PageProps } from "../pages";
import { linkTo, navigate } from "../router";
import { EMPTY, FIELD_OF, FormError, toSpec, type RunForm } from "./spec";

type Errors = Partial<Record<keyof RunForm | "form", string>>;

function errorsOf(e: unknown): Errors {
  if (e instanceof FormError) return { [e.field]: e.message };
  if (e instanceof ApiError && e.problem) {
    const out: Errors = {};
    for (const item of e.problem.errors ?? []) {
      const loc = item.loc.filter((x) => x !== "body");
      const field = FIELD_OF[String(loc[0])] ?? "extra";
      const where = loc.join(".");
      out[field] = [out[field], `${where}: ${item.msg}`].filter(Boolean).join("; ");
    }
    if (!e.problem.errors?.length) out.form = `${e.problem.title ?? "Refused"}: ${e.problem.detail ?? ""}`;
    return out;
  }
  return { form: problemText(e) };
}

export function RunPage({ who, loc }: PageProps) {
  const api = useApi();
  const host = loc.query.get("host") ?? "";
  const [f, setF] = useState<RunForm>(EMPTY);
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);

  if (!can(who, "admin")) return <main id="main" class="page"><h1>Run a container</h1><p class="notice">Creating containers needs the admin role (you are {who.role}).</p></main>;

  const set = (k: keyof RunForm) => (e: Event) => {
    const t = e.target as HTMLInputElement;
    setF({ ...f, [k]: t.type === "checkbox" ? t.checked : t.value });
  };
  const submit = async (): Promise<void> => {
    setErrors({});
    setBusy(true);
    try {
      const r = await api.POST("/v1/containers", { body: toSpec(f) });
      if (!r.response.ok || !r.data) throw new ApiError(r.response.status, r.error as ApiError["problem"]);
      navigate(`/containers/${encodeURIComponent(r.data.name)}${host ? `?host=${encodeURIComponent(host)}` : ""}`);
    } catch (e) {
      setErrors(errorsOf(e));
    } finally {
      setBusy(false);
    }
  };
  const field = (k: keyof RunForm, label: string, input: JSX.Element, hint?: string) => {
    const id = `run-${k}`;
    const err = errors[k];
    const described = [hint && `${id}-hint`, err && `${id}-err`].filter(Boolean).join(" ") || undefined;
    return (
      <div class="field">
        <label for={id}>{label}</label>
        {cloneElement(input, { id, "aria-invalid": err ? "true" : undefined, "aria-describedby": described })}
        {hint && <span id={`${id}-hint`} class="muted">{hint}</span>}
        {err && <span id={`${id}-err`} class="field-error">{err}</span>}
      </div>
    );
  };
  return (
    <main id="main" class="page">
      <div class="toolbar"><a {...linkTo("/")}>← Containers</a><h1>Run a container</h1></div>
      <form class="stack" onSubmit={(e) => { e.preventDefault(); void submit(); }} noValidate>
        <div class="row">
          {field("image", "Image", <input value={f.image} required onInput={set("image")} placeholder="moorage-test/busybox:latest" />)}
          {field("name", "Name", <input value={f.name} onInput={set("name")} placeholder="(generated when empty)" />)}
        </div>
        {field("command", "Command", <input value={f.command} onInput={set("command")} placeholder="sleep 3600" />, "Split like a shell would; empty: the image's own")}
        <div class="row">
          {field("ports", "Ports", <textarea rows={3} value={f.ports} onInput={set("ports")} placeholder={"8080:80\n127.0.0.1:5353:53/udp"} />, "host:container[/proto], one a line")}
          {field("env", "Environment", <textarea rows={3} value={f.env} onInput={set("env")} placeholder={"KEY=value"} />, "KEY=value, one a line")}
          {field("mounts", "Mounts", <textarea rows={3} value={f.mounts} onInput={set("mounts")} placeholder={"data:/data\n/srv/conf:/conf:ro"} />, "volume or host path : container path [:ro]")}
        </div>
        <div class="row">
          {field("restart", "Restart policy", (
            <select value={f.restart} onChange={set("restart")}>
              <option value="">no</option>
              <option value="always">always</option>
              <option value="unless-stopped">unless-stopped</option>
              <option value="on-failure">on-failure</option>
            </select>
          ))}
          {field("health", "Health check", <input value={f.health} onInput={set("health")} placeholder="wget -qO- http://127.0.0.1/ || exit 1" />, "a shell command; exit 0 is healthy")}
          {field("interval", "Check every (s)", <input value={f.interval} inputMode="numeric" onInput={set("interval")} placeholder="30" />)}
        </div>
        {field("extra", "Everything else (JSON, merged over the fields above)", <textarea rows={4} value={f.extra} onInput={set("extra")} placeholder={'{"labels": {"team": "a"}, "resources": {"memory": "256m"}}'} />)}
        <label class="check"><span><input type="checkbox" checked={f.start} onChange={set("start")} /> Start it</span></label>
        {errors.form && <p class="error" role="alert">{errors.form}</p>}
        {Object.keys(errors).length > 0 && !errors.form && <p class="error" role="alert">The API refused it: see the fields marked.</p>}
        <div class="row"><button type="submit" class="primary" disabled={busy || !f.image.trim()}>{busy ? "Creating…" : f.start ? "Create and start" : "Create"}</button></div>
      </form>
    </main>
  );
}

// The run form's text fields → a ContainerSpec (pure, so the page stays thin).
import type { Schemas } from "../api/client";

export type Spec = Schemas["ContainerSpec"];

export interface RunForm {
  image: string;
  name: string;
  command: string;
  ports: string; // "8080:80", "127.0.0.1:8080:80/udp", one a line
  env: string; // "K=V", one a line
  mounts: string; // "volume:/data", "/host/dir:/data:ro", one a line
  restart: string; // "", "always", "unless-stopped", "on-failure"
  health: string; // a shell command
  interval: string; // seconds
  start: boolean;
  extra: string; // JSON merged over the rest
}

export const EMPTY: RunForm = {
  image: "", name: "", command: "", ports: "", env: "", mounts: "", restart: "", health: "", interval: "", start: true, extra: "",
};

/** Which form field a spec field is entered in (for errors the API names). */
export const FIELD_OF: Record<string, keyof RunForm> = {
  image: "image", name: "name", command: "command", ports: "ports", environment: "env", volumes: "mounts",
  mounts: "mounts", restart_policy: "restart", healthcheck: "health",
};

const lines = (s: string): string[] => s.split("\n").map((l) => l.trim()).filter(Boolean);

export class FormError extends Error {
  constructor(readonly field: keyof RunForm, message: string) {
    super(message);
  }
}

export function toSpec(f: RunForm): Spec {
  const spec: Record<string, unknown> = { image: f.image.trim(), start: f.start };
  if (f.name.trim()) spec.name = f.name.trim();
  if (f.command.trim()) spec.command = f.command.trim();
  if (f.ports.trim()) {
    const ports: Record<string, unknown> = {};
    for (const l of lines(f.ports)) {
      const m = l.match(/^(?:(\[[^\]]+\]|[\d.]+):)?(\d+):(\d+)(?:\/(tcp|udp|sctp))?$/) ?? l.match(/^()(\d*)(?::)?(\d+)(?:\/(tcp|udp|sctp))?$/);
      if (!m) throw new FormError("ports", `"${l}" is not host:container (e.g. 8080:80 or 127.0.0.1:8080:80/udp)`);
      const [, ip, host, container, proto] = m;
      const key = `${container}/${proto ?? "tcp"}`;
      const hostPort = host ? Number(host) : null;
      ports[key] = ip ? [ip.replace(/^\[|\]$/g, ""), hostPort] : hostPort;
    }
    spec.ports = ports;
  }
  if (f.env.trim()) spec.environment = lines(f.env);
  if (f.mounts.trim()) spec.volumes = lines(f.mounts);
  if (f.restart) spec.restart_policy = { name: f.restart };
  if (f.health.trim()) {
    const hc: Record<string, unknown> = { test: ["CMD-SHELL", f.health.trim()] };
    if (f.interval.trim()) hc.interval = Number(f.interval);
    spec.healthcheck = hc;
  }
  if (f.extra.trim()) {
    let extra: unknown;
    try {
      extra = JSON.parse(f.extra);
    } catch (e) {
      throw new FormError("extra", `Not JSON: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (typeof extra !== "object" || extra === null || Array.isArray(extra)) throw new FormError("extra", "The rest must be a JSON object");
    Object.assign(spec, extra);
  }
  return spec as Spec;
}

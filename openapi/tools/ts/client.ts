// What a TypeScript client of moorage writes, type-checked with `tsc --strict` against
// types generated from openapi/openapi.json (openapi-typescript; `schema.d.ts` is made
// by scripts/spec-tools.sh, not committed). A type error here is a spec that does not
// generate cleanly.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

type Schemas = components["schemas"];
export type Container = Schemas["Container"];
export type Problem = Schemas["Problem"];
export type LogsFrame = Schemas["ContainersLogsStreamEvent"];

const moorage = createClient<paths>({
  baseUrl: "http://127.0.0.1:8000",
  headers: { Authorization: "Bearer mrg_example" },
});

/** A problem document's stable code, narrowed to the ones that exist. */
function explain(problem: Problem): string {
  switch (problem.code) {
    case "container-not-found":
      return `no such container: ${problem.detail}`;
    case "validation-error":
      return (problem.errors ?? []).map((e) => `${e.loc.join(".")}: ${e.msg}`).join("; ");
    default:
      return `${problem.status} ${problem.title}`;
  }
}

export async function list(label: string): Promise<string[]> {
  const { data, error } = await moorage.GET("/v1/containers", {
    params: { query: { all: true, label: [label] } },
  });
  if (error) throw new Error(explain(error));
  return data.map((c) => `${c.name} ${c.status} ${c.health ?? "-"}`);
}

/** Create and start: the minimal spec is an image, every other field has a default. */
export async function create(image: string): Promise<Container> {
  const { data, error, response } = await moorage.POST("/v1/containers", { body: { image } });
  if (error) throw new Error(`${response.status}: ${explain(error)}`);
  const id: string = data.id;
  const ports: number[] = data.ports.map((p) => p.container_port);
  console.log(id, ports, data.exit_code === null ? "running" : data.exit_code);
  return data;
}

export async function get(id: string): Promise<Container | null> {
  const { data, error } = await moorage.GET("/v1/containers/{id}", { params: { path: { id } } });
  if (error) {
    if (error.code === "container-not-found") return null;
    throw new Error(explain(error));
  }
  return data;
}

export async function logs(id: string): Promise<string> {
  const { data, error } = await moorage.GET("/v1/containers/{id}/logs", {
    params: { path: { id }, query: { tail: "100", timestamps: true } },
    parseAs: "text",
  });
  if (error) throw new Error(explain(error));
  return data;
}

/** The typed events of a log stream: the frame union narrows on `event`. */
export function follow(id: string, onLine: (line: string) => void): EventSource {
  const source = new EventSource(`/v1/containers/${encodeURIComponent(id)}/logs/stream`);
  const handle = (frame: LogsFrame): void => {
    switch (frame.event) {
      case "log":
        onLine(`${frame.data.ts} ${frame.data.stream}: ${frame.data.line}`);
        break;
      case "end":
        console.log("ended:", frame.data.reason, frame.data.exit_code ?? "");
        source.close();
        break;
      case "error":
        console.error(explain(frame.data));
        source.close();
        break;
    }
  };
  for (const name of ["log", "end", "error"] as const) {
    source.addEventListener(name, (e: MessageEvent<string>) => {
      handle({ event: name, id: e.lastEventId, data: JSON.parse(e.data) } as LogsFrame);
    });
  }
  return source;
}

/** An error answer is a problem document, typed per status. */
export async function missing(): Promise<string> {
  const { error, response } = await moorage.DELETE("/v1/containers/{id}", {
    params: { path: { id: "no-such-container" }, query: { force: true } },
  });
  if (!error) return "deleted";
  const status: number = response.status;
  return `${status} ${error.code}: ${error.detail} (${error.instance})`;
}

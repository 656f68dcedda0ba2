// Lifecycle actions on one container (operator role), each confirmed by the user first.
import { api, ok } from "../api/client";

export type Action = "start" | "stop" | "restart" | "pause" | "unpause" | "kill" | "remove";

export const LABELS: Record<Action, string> = {
  start: "Start",
  stop: "Stop",
  restart: "Restart",
  pause: "Pause",
  unpause: "Unpause",
  kill: "Kill",
  remove: "Remove",
};

/** What can be done to a container in its state. */
export function actionsFor(state: string): Action[] {
  switch (state) {
    case "running":
      return ["stop", "restart", "pause", "kill"];
    case "paused":
      return ["unpause", "kill"];
    case "restarting":
      return ["stop", "kill"];
    default:
      return ["start", "remove"];
  }
}

export async function run(action: Action, c: { id: string; host?: string | undefined }): Promise<void> {
  const params = { path: { id: c.id }, query: c.host ? { host: c.host } : {} };
  switch (action) {
    case "start":
      ok(await api.POST("/v1/containers/{id}/start", { params }));
      return;
    case "stop":
      ok(await api.POST("/v1/containers/{id}/stop", { params }));
      return;
    case "restart":
      ok(await api.POST("/v1/containers/{id}/restart", { params }));
      return;
    case "pause":
      ok(await api.POST("/v1/containers/{id}/pause", { params }));
      return;
    case "unpause":
      ok(await api.POST("/v1/containers/{id}/unpause", { params }));
      return;
    case "kill":
      ok(await api.POST("/v1/containers/{id}/kill", { params }));
      return;
    case "remove":
      ok(await api.DELETE("/v1/containers/{id}", { params: { ...params, query: { ...params.query, force: true } } }));
      return;
  }
}

// The Swarm reads the pages share: is this host a manager, and the cluster's lists.
import { ok, type Schemas } from "../api/client";
import type { useApi } from "../api/hosted";

export type Api = ReturnType<typeof useApi>;
export type Node = Schemas["Node"];
export type Service = Schemas["Service"];
export type Task = Schemas["Task"];
export type Secret = Schemas["Secret"];
export type Config = Schemas["Config"];
export type Swarm = Schemas["Swarm"];

export interface Cluster {
  swarm: Swarm;
  nodes: Node[];
  services: Service[];
  secrets: Secret[];
  configs: Config[];
}

/** Whether `swarm` describes a manager this moorage can drive. */
export const isManager = (swarm: Swarm): boolean => swarm.local_node_state === "active" && swarm.control_available;

export async function readCluster(api: Api): Promise<Cluster> {
  const swarm = ok(await api.GET("/v1/swarm", {}));
  if (!isManager(swarm)) return { swarm, nodes: [], services: [], secrets: [], configs: [] };
  const [nodes, services, secrets, configs] = await Promise.all([
    api.GET("/v1/nodes", {}).then(ok),
    api.GET("/v1/services", {}).then(ok),
    api.GET("/v1/secrets", {}).then(ok),
    api.GET("/v1/configs", {}).then(ok),
  ]);
  const byName = <T extends { name?: string; hostname?: string }>(a: T, b: T): number =>
    (a.name ?? a.hostname ?? "").localeCompare(b.name ?? b.hostname ?? "");
  return { swarm, nodes: nodes.sort(byName), services: services.sort(byName), secrets: secrets.sort(byName), configs: configs.sort(byName) };
}

/** A service not yet where it asks to be: tasks starting or stopping, a rollout under way. */
export function converging(s: Service): boolean {
  const u = s.update_status?.state ?? "";
  return s.replicas.running !== s.replicas.desired || u === "updating" || u === "rollback_started";
}

export const short = (id: string | null | undefined): string => (id ? id.slice(0, 12) : "—");

/** UTF-8 text as base64 (secrets and configs are sent so). */
export function base64(text: string): string {
  let bin = "";
  for (const b of new TextEncoder().encode(text)) bin += String.fromCharCode(b);
  return btoa(bin);
}

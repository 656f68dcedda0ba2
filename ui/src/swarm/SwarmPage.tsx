// Swarm: waits on the Swarm API (nodes, services, scale, rollback, redeploy, service
// logs), which is being built beside this page and is not in this server's spec yet.
import { Waiting } from "../components/Waiting";
import type { PageProps } from "../pages";

export function SwarmPage(_p: PageProps) {
  return (
    <Waiting title="Swarm" probe="/v1/swarm"
      what="Nodes with availability controls, services with live replica counts, scale, roll back, redeploy, the merged service logs and tasks per node: this page waits on the Swarm API (/v1/swarm, /v1/nodes, /v1/services), which is not in this release's API yet." />
  );
}

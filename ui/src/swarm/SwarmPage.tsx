// Swarm: not built yet. Its API (nodes, services, scale, rollback, redeploy, service
// logs) reached main after this dashboard's pages were frozen; until the page exists
// it says so and points at the API.
import { Waiting } from "../components/Waiting";
import type { PageProps } from "../pages";

export function SwarmPage(_p: PageProps) {
  return (
    <Waiting title="Swarm" probe="/v1/swarm"
      what="Nodes with availability controls, services with live replica counts, scale, roll back, redeploy, the merged service logs and tasks per node: this page waits on being built over the Swarm API (/v1/swarm, /v1/nodes, /v1/services); meanwhile the API docs (/docs) show those routes." />
  );
}

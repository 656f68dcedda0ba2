// Which host a page shows, when moorage serves several (GET /v1/hosts); kept in the
// URL (?host=). With one engine there is nothing to pick and nothing is shown.
import { useHosts } from "../hosts/hosts";
import { setQuery } from "../router";

export function HostPicker({ host, all }: { host: string; all?: boolean }) {
  const { hosts } = useHosts();
  if (!hosts || hosts.length < 2) return null;
  return (
    <label>Host <select value={host} onChange={(e) => setQuery({ host: (e.target as HTMLSelectElement).value })}>
      <option value="">default</option>
      {all && <option value="*">all hosts</option>}
      {hosts.map((h) => <option key={h.name} value={h.name} disabled={h.state !== "up"}>{h.name}{h.state !== "up" ? ` (${h.state})` : ""}</option>)}
    </select></label>
  );
}

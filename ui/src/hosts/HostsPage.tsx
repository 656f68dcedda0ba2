// Every engine moorage serves: its state live, its version, its containers.
import { age } from "../format";
import { linkTo } from "../router";
import { useHosts } from "./hosts";

export function HostsPage() {
  const { hosts, error } = useHosts();
  return (
    <main id="main" class="page">
      <div class="toolbar"><h1>Hosts</h1></div>
      {error && <p class="error" role="alert">{error}</p>}
      {hosts === null && !error && <p>This moorage serves one engine.</p>}
      {hosts && (
        <div class="table-wrap" tabIndex={0} role="region" aria-label="Hosts table">
          <table>
            <caption class="sr-only">Hosts</caption>
            <thead>
              <tr>
                <th scope="col">Name</th><th scope="col">State</th><th scope="col">Address</th>
                <th scope="col">Engine</th><th scope="col">Containers</th><th scope="col">Swarm</th>
                <th scope="col">Last seen</th><th scope="col">Labels</th>
              </tr>
            </thead>
            <tbody>
              {hosts.map((h) => (
                <tr key={h.name} data-host={h.name}>
                  <td>
                    <a {...linkTo(`/?host=${encodeURIComponent(h.name)}`)} class="name">{h.name}</a>
                    {h.default && <span class="host-tag">default</span>}
                  </td>
                  <td>
                    <span class={`badge host-${h.state}`}>{h.state}</span>
                    {h.error && <div class="count host-error" title={h.error}>{h.error}</div>}
                  </td>
                  <td><code>{h.url}</code></td>
                  <td>{h.version ? `${h.version} (API ${h.api_version ?? "?"})` : "–"}</td>
                  <td class="num">{h.containers ? `${h.containers.running} / ${h.containers.total}` : "–"}</td>
                  <td>{h.swarm ? h.swarm.role ?? "member" : "–"}</td>
                  <td title={h.last_seen ?? ""}>{h.last_seen ? `${age(h.last_seen)} ago` : "–"}</td>
                  <td>{Object.entries(h.labels ?? {}).map(([k, v]) => <span key={k} class="host-tag">{k}={v}</span>)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </main>
  );
}

// Secrets and configs: listed for everyone (a secret's data never is), created from
// text and removed by admins.
import { useState } from "preact/hooks";
import { ok } from "../api/client";
import { useApi } from "../api/hosted";
import { Confirm } from "../components/Confirm";
import { parseKv } from "../components/kv";
import { age, problemText } from "../format";
import { base64, type Config, type Secret } from "./swarm";

interface Props {
  kind: "secrets" | "configs";
  items: (Secret | Config)[];
  admin: boolean;
  onDone: (msg: string) => void;
}

export function DataObjects({ kind, items, admin, onDone }: Props) {
  const api = useApi();
  const one = kind === "secrets" ? "secret" : "config";
  const [name, setName] = useState("");
  const [data, setData] = useState("");
  const [labels, setLabels] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [removing, setRemoving] = useState<Secret | null>(null);

  const create = async (): Promise<void> => {
    setError(null);
    try {
      const body = { name: name.trim(), data: base64(data), labels: parseKv(labels) };
      const made = kind === "secrets" ? ok(await api.POST("/v1/secrets", { body })) : ok(await api.POST("/v1/configs", { body }));
      setName("");
      setData("");
      onDone(`Created ${one} ${made.name}`);
    } catch (e) {
      setError(problemText(e));
    }
  };
  const remove = async (o: Secret): Promise<void> => {
    setRemoving(null);
    const path = { params: { path: { id: o.id } } };
    try {
      if (kind === "secrets") ok(await api.DELETE("/v1/secrets/{id}", path));
      else ok(await api.DELETE("/v1/configs/{id}", path));
      onDone(`Removed ${one} ${o.name}`);
    } catch (e) {
      onDone(`Remove ${o.name} failed: ${problemText(e)}`);
    }
  };

  const title = kind === "secrets" ? "Secrets" : "Configs";
  return (
    <section aria-labelledby={`h-${kind}`}>
      <h2 id={`h-${kind}`}>{title}</h2>
      {admin && (
        <form class="stack" aria-label={`Create a ${one}`} onSubmit={(e) => { e.preventDefault(); void create(); }}>
          <div class="row">
            <label>{`New ${one} name`}<input value={name} required onInput={(e) => setName((e.target as HTMLInputElement).value)} /></label>
            <label>{`${one === "secret" ? "Secret" : "Config"} content`}
              {one === "secret"
                ? <input type="password" autoComplete="off" value={data} required onInput={(e) => setData((e.target as HTMLInputElement).value)} />
                : <input value={data} required onInput={(e) => setData((e.target as HTMLInputElement).value)} />}
            </label>
            <label>{`${one === "secret" ? "Secret" : "Config"} labels`}<input value={labels} placeholder="k=v" onInput={(e) => setLabels((e.target as HTMLInputElement).value)} /></label>
            <button type="submit" class="primary">{`Create ${one}`}</button>
          </div>
          {error && <p class="error" role="alert">{error}</p>}
        </form>
      )}
      {items.length === 0 ? <p>No {kind}.</p> : (
        <div class="table-wrap" tabIndex={0} role="region" aria-label={`${title} (scrolls sideways)`}>
          <table>
            <thead><tr><th scope="col">Name</th><th scope="col">Labels</th><th scope="col">Created</th>{admin && <th scope="col">Actions</th>}</tr></thead>
            <tbody>
              {items.map((o) => (
                <tr key={o.id} data-object={o.name}>
                  <th scope="row"><code>{o.name}</code></th>
                  <td class="wrap">{Object.entries(o.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(", ")}</td>
                  <td class="num" title={o.created ?? ""}>{age(o.created)}</td>
                  {admin && <td class="actions"><button type="button" class="small danger" aria-label={`Remove ${one} ${o.name}`} onClick={() => setRemoving(o)}>Remove</button></td>}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {removing && (
        <Confirm title={`Remove ${one} ${removing.name}?`} body={`A ${one} a service still uses cannot be removed.`} confirm="Remove" danger
          onConfirm={() => void remove(removing)} onCancel={() => setRemoving(null)} />
      )}
    </section>
  );
}

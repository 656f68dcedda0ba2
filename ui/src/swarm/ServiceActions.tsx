// A service's operator actions: scale (asked in a small dialog), roll back to the
// previous spec and redeploy (a forced rollout), each confirmed first.
import { useState } from "preact/hooks";
import { ok } from "../api/client";
import { useApi } from "../api/hosted";
import { Confirm } from "../components/Confirm";
import { Prompt } from "../components/Prompt";
import { problemText } from "../format";
import type { Service } from "./swarm";

type Asking = "scale" | "rollback" | "redeploy" | null;

export function ServiceActions({ s, onDone }: { s: Service; onDone: (msg: string) => void }) {
  const api = useApi();
  const [asking, setAsking] = useState<Asking>(null);
  const path = { params: { path: { id: s.id } } };
  const act = async (what: string, call: () => Promise<unknown>): Promise<void> => {
    setAsking(null);
    try {
      await call();
      onDone(`${s.name}: ${what}`);
    } catch (e) {
      onDone(`${s.name}: ${what} failed: ${problemText(e)}`);
    }
  };
  const replicated = s.mode === "replicated";
  return (
    <>
      {replicated && <button type="button" class="small" aria-label={`Scale ${s.name}`} onClick={() => setAsking("scale")}>Scale</button>}
      <button type="button" class="small" aria-label={`Roll back ${s.name}`} disabled={!s.previous_spec} title={s.previous_spec ? "" : "no earlier spec to go back to"}
        onClick={() => setAsking("rollback")}>Roll back</button>
      <button type="button" class="small" aria-label={`Redeploy ${s.name}`} onClick={() => setAsking("redeploy")}>Redeploy</button>
      {asking === "scale" && (
        <Prompt title={`Scale ${s.name}`} label="Replicas" initial={String(s.replicas.desired)} confirm="Scale"
          onCancel={() => setAsking(null)}
          onSubmit={(v) => {
            const n = Number(v);
            if (!Number.isInteger(n) || n < 0) return onDone(`${s.name}: "${v}" is not a number of replicas`);
            void act(`scaled to ${n}`, async () => ok(await api.POST("/v1/services/{id}/scale", { ...path, body: { replicas: n } })));
          }} />
      )}
      {asking === "rollback" && (
        <Confirm title={`Roll back ${s.name}?`} body="The service goes back to its previous spec (image, settings) and its tasks are replaced." confirm="Roll back"
          onCancel={() => setAsking(null)}
          onConfirm={() => void act("rolling back", async () => ok(await api.POST("/v1/services/{id}/rollback", path)))} />
      )}
      {asking === "redeploy" && (
        <Confirm title={`Redeploy ${s.name}?`} body="Every task is replaced by a new one with the same spec (a forced rollout)." confirm="Redeploy"
          onCancel={() => setAsking(null)}
          onConfirm={() => void act("redeploying", async () => ok(await api.POST("/v1/services/{id}/redeploy", path)))} />
      )}
    </>
  );
}

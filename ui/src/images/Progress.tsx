// Live progress of a pull or push: a bar per layer from its `progress` events; lines
// that are not about a layer (the tag, the digest, the final status) as text.
import { bytes } from "../format";

export interface Layer {
  id: string;
  status: string;
  current: number | null;
  total: number | null;
}

export type Layers = Map<string, Layer>;

const LAYER = /^[0-9a-f]{12}$/;
const DONE = /complete|already exists|pushed|mounted|layer already/i;

export function addProgress(layers: Layers, d: unknown): Layers {
  const p = d as { id?: string | null; status?: string | null; current?: number | null; total?: number | null };
  const id = p.id ?? "";
  const next = new Map(layers);
  const old = next.get(id);
  next.set(id, { id, status: p.status ?? "", current: p.current ?? old?.current ?? null, total: p.total ?? old?.total ?? null });
  return next;
}

/** `finished`: the stream said `done`, so every layer is. */
export function Progress({ layers, label, finished }: { layers: Layers; label: string; finished?: boolean }) {
  if (layers.size === 0) return null;
  const all = [...layers.values()];
  const bars = all.filter((l) => LAYER.test(l.id));
  const lines = all.filter((l) => !LAYER.test(l.id));
  return (
    <div role="group" aria-label={label}>
      <div class="progress">
        {bars.map((l) => {
          const done = finished || DONE.test(l.status);
          const max = l.total && l.total > 0 ? l.total : 1;
          const value = done ? max : Math.min(l.current ?? 0, max);
          return [
            <code key={`${l.id}-i`}>{l.id}</code>,
            <progress key={`${l.id}-p`} max={max} value={value} aria-label={`Layer ${l.id}: ${l.status}`} />,
            <span key={`${l.id}-s`} class="muted">{l.status}{l.total && !done ? ` ${bytes(l.current)} / ${bytes(l.total)}` : ""}</span>,
          ];
        })}
      </div>
      {lines.map((l) => <div key={l.id} class="muted">{l.id ? `${l.id}: ` : ""}{l.status}</div>)}
    </div>
  );
}

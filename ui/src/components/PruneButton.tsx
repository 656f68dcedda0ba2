// Prune with an optional label filter, confirmed first with what it would free.
import { useState } from "preact/hooks";
import { Confirm } from "./Confirm";

export interface PruneProps {
  what: string;
  /** What the confirmation says would go (read when the user asks). */
  estimate: () => Promise<string>;
  prune: (label: string) => Promise<void>;
}

export function PruneButton(p: PruneProps) {
  const [label, setLabel] = useState("");
  const [asking, setAsking] = useState<string | null>(null);
  const id = `prune-${p.what.replace(/\W+/g, "-")}`;
  return (
    <span class="toolbar">
      <label for={id}>Only labelled</label>
      <input id={id} class="narrow" value={label} placeholder="key=value" onInput={(e) => setLabel((e.target as HTMLInputElement).value)} />
      <button type="button" onClick={() => void p.estimate().then(setAsking)}>Prune unused {p.what}…</button>
      {asking !== null && (
        <Confirm title={`Prune unused ${p.what}?`} body={asking + (label ? ` Only those labelled ${label}.` : "")} confirm="Prune" danger
          onConfirm={() => { setAsking(null); void p.prune(label.trim()); }} onCancel={() => setAsking(null)} />
      )}
    </span>
  );
}

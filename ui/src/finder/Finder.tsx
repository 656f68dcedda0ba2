// Ctrl/Cmd-K: a fuzzy finder over containers and pages; Enter opens, Esc closes.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api } from "../api/client";
import { navigate } from "../router";
import { fuzzy } from "./fuzzy";

interface Item {
  label: string;
  hint: string;
  to: string;
}

export function Finder({ onClose }: { onClose: () => void }) {
  const [q, setQ] = useState("");
  const [items, setItems] = useState<Item[]>([
    { label: "Containers", hint: "page", to: "/" },
    { label: "Hosts", hint: "page", to: "/hosts" },
  ]);
  const [sel, setSel] = useState(0);
  const ref = useRef<HTMLDialogElement>(null);
  const input = useRef<HTMLInputElement>(null);

  useEffect(() => {
    ref.current?.showModal();
    input.current?.focus();
    void api.GET("/v1/containers", { params: { query: { all: true } } }).then((r) => {
      const list = (r.data ?? []) as { name: string; image?: string | null; state: string; host?: string }[];
      const hq = (c: { host?: string }) => (c.host ? `host=${encodeURIComponent(c.host)}` : "");
      setItems((old) => [
        ...old,
        ...list.flatMap((c) => [
          { label: c.name, hint: `${c.state} · ${c.image ?? ""}${c.host ? ` · ${c.host}` : ""}`, to: `/containers/${encodeURIComponent(c.name)}${hq(c) ? `?${hq(c)}` : ""}` },
          { label: `${c.name} logs`, hint: "logs", to: `/logs?c=${encodeURIComponent(c.name)}${hq(c) ? `&${hq(c)}` : ""}` },
        ]),
      ]);
    });
  }, []);

  const found = useMemo(() => {
    const scored = items
      .map((it) => ({ it, s: fuzzy(q, it.label) }))
      .filter((x): x is { it: Item; s: number } => x.s !== null);
    scored.sort((a, b) => b.s - a.s);
    return scored.slice(0, 50).map((x) => x.it);
  }, [q, items]);

  const open = (it: Item | undefined): void => {
    if (!it) return;
    onClose();
    navigate(it.to);
  };

  return (
    <dialog ref={ref} class="finder" aria-label="Go to" onCancel={onClose}
      onClick={(e) => e.target === ref.current && onClose()}>
      <input ref={input} type="search" role="combobox" aria-expanded="true" aria-controls="finder-list"
        aria-activedescendant={found[sel] ? `finder-${sel}` : undefined} aria-label="Find a container or page"
        placeholder="Find a container or page…" value={q}
        onInput={(e) => {
          setQ((e.target as HTMLInputElement).value);
          setSel(0);
        }}
        onKeyDown={(e) => {
          if (e.key === "ArrowDown") {
            e.preventDefault();
            setSel((s) => Math.min(s + 1, found.length - 1));
          } else if (e.key === "ArrowUp") {
            e.preventDefault();
            setSel((s) => Math.max(s - 1, 0));
          } else if (e.key === "Enter") {
            e.preventDefault();
            open(found[sel]);
          }
        }} />
      <ul id="finder-list" role="listbox" aria-label="Matches">
        {found.map((it, i) => (
          <li key={it.to} id={`finder-${i}`} role="option" aria-selected={i === sel} onClick={() => open(it)}>
            <span>{it.label}</span> <span class="count">{it.hint}</span>
          </li>
        ))}
      </ul>
    </dialog>
  );
}

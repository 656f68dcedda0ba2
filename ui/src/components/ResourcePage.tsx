// The skeleton the volumes and networks pages share: a list kept fresh by the engine's
// events of one type, a create form (operators), inspect rows, remove with confirmation
// (operators) and prune (admins), each outcome said in one notice line.
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import type { WhoAmI } from "../api/client";
import { can } from "../api/session";
import { problemText } from "../format";
import { openStream } from "../streams";
import { Confirm } from "./Confirm";
import { HostPicker } from "./HostPicker";
import { PruneButton } from "./PruneButton";

export interface ResourcePageProps<T> {
  /** The page's heading, "Volumes": also its region's label and, in lower case, the prune button's. */
  title: string;
  /** The engine's event type, "volume": also the rows' data-<kind> attribute and the notices' word. */
  kind: string;
  who: WhoAmI;
  host: string;
  list: () => Promise<T[]>;
  keyOf: (item: T) => string;
  nameOf: (item: T) => string;
  /** The column headings but the last (Actions), and the cells of a row under them. */
  columns: string[];
  cells: (item: T) => ComponentChildren;
  /** The create form (see CreatePanel); `done` says what was made and reloads. */
  create: (done: (notice: string) => void) => ComponentChildren;
  inspect: (item: T, changed: (notice: string) => void) => ComponentChildren;
  removable?: (item: T) => boolean;
  remove: (item: T) => Promise<unknown>;
  /** What the remove confirmation warns of. */
  removeBody: string;
  /** The prune confirmation's estimate, and the prune itself (it returns the notice). */
  pruneEstimate: () => Promise<string>;
  prune: (label: string) => Promise<string>;
}

export function ResourcePage<T>(p: ResourcePageProps<T>) {
  const [items, setItems] = useState<T[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const [removing, setRemoving] = useState<T | null>(null);
  const operator = can(p.who, "operator");
  const plural = p.title.toLowerCase();

  const load = async (): Promise<void> => {
    try {
      setItems(await p.list());
      setError(null);
    } catch (e) {
      setError(problemText(e));
    }
  };
  useEffect(() => {
    void load();
    const s = openStream("/v1/events", { type: p.kind, host: p.host || undefined }, { pauseHidden: true, on: { [p.kind]: () => void load() } });
    return () => s.close();
  }, [p.host]);

  const said = (message: string): void => {
    setNotice(message);
    void load();
  };
  const remove = async (item: T): Promise<void> => {
    setRemoving(null);
    try {
      await p.remove(item);
      said(`Removed ${p.kind} ${p.nameOf(item)}`);
    } catch (e) {
      setNotice(`Remove ${p.nameOf(item)} failed: ${problemText(e)}`);
    }
  };

  return (
    <main id="main" class="page">
      <div class="toolbar">
        <h1>{p.title}</h1>
        <HostPicker host={p.host} />
        {can(p.who, "admin") && (
          <PruneButton what={plural}
            estimate={p.pruneEstimate}
            prune={async (label) => {
              try {
                said(await p.prune(label));
              } catch (e) {
                setNotice(`Prune failed: ${problemText(e)}`);
              }
            }} />
        )}
      </div>
      {notice && <p class="notice" role="status">{notice}</p>}
      {error && <p class="error" role="alert">{error}</p>}
      {operator && p.create(said)}
      {items === null ? <p>Loading…</p> : (
        <div class="table-wrap" tabIndex={0} role="region" aria-label={`${p.title} (scrolls sideways)`}>
          <table>
            <caption class="sr-only">{p.title}, {items.length}</caption>
            <thead><tr>{p.columns.map((c) => <th key={c} scope="col">{c}</th>)}<th scope="col">Actions</th></tr></thead>
            {items.map((item) => {
              const key = p.keyOf(item);
              const name = p.nameOf(item);
              return (
                <tbody key={key}>
                  <tr {...{ [`data-${p.kind}`]: name }}>
                    {p.cells(item)}
                    <td class="actions">
                      <button type="button" class="small" aria-expanded={open === key} aria-label={`Inspect ${name}`} onClick={() => setOpen(open === key ? null : key)}>Inspect</button>
                      {operator && (p.removable?.(item) ?? true) && <button type="button" class="small danger" aria-label={`Remove ${name}`} onClick={() => setRemoving(item)}>Remove</button>}
                    </td>
                  </tr>
                  {open === key && <tr><td colSpan={p.columns.length + 1}>{p.inspect(item, said)}</td></tr>}
                </tbody>
              );
            })}
          </table>
          {items.length === 0 && <p>No {plural}.</p>}
        </div>
      )}
      {removing && (
        <Confirm title={`Remove ${p.kind} ${p.nameOf(removing)}?`} body={p.removeBody} confirm="Remove" danger
          onConfirm={() => void remove(removing)} onCancel={() => setRemoving(null)} />
      )}
    </main>
  );
}

export interface CreatePanelProps {
  /** The heading's id, "h-vcreate", and its text. */
  id: string;
  title: string;
  /** Make it; the notice it returns goes to `done`, a problem shows under the form. */
  submit: () => Promise<string>;
  done: (notice: string) => void;
  children: ComponentChildren;
}

export function CreatePanel(p: CreatePanelProps) {
  const [error, setError] = useState<string | null>(null);
  const submit = async (): Promise<void> => {
    setError(null);
    try {
      p.done(await p.submit());
    } catch (e) {
      setError(problemText(e));
    }
  };
  return (
    <section class="panel" aria-labelledby={p.id}>
      <h2 id={p.id}>{p.title}</h2>
      <form class="stack" onSubmit={(e) => { e.preventDefault(); void submit(); }}>
        {p.children}
        {error && <p class="error" role="alert">{error}</p>}
      </form>
    </section>
  );
}

// Every container in one table: live state, health, CPU and memory; filter, sort and
// group; lifecycle actions with confirmation.
import { useEffect, useMemo, useState } from "preact/hooks";
import type { WhoAmI } from "../api/client";
import { can } from "../api/session";
import { Confirm } from "../components/Confirm";
import { age, bytes, percent, problemText } from "../format";
import { linkTo, setQuery, type Location } from "../router";
import { actionsFor, LABELS, run, type Action } from "./actions";
import { useContainers, type Row } from "./live";

type SortKey = "name" | "image" | "state" | "health" | "cpu" | "memory" | "created";

const GROUPS: Record<string, string> = {
  compose: "com.docker.compose.project",
  stack: "com.docker.stack.namespace",
};

function groupOf(c: Row, by: string): string {
  if (!by) return "";
  const key = by.startsWith("label:") ? by.slice(6) : GROUPS[by];
  return (key && c.labels?.[key]) || "(none)";
}

function portLinks(c: Row) {
  return (c.ports ?? [])
    .filter((p) => p.host_port)
    .map((p) => {
      const ip = p.host_ip && !["0.0.0.0", "::", ""].includes(p.host_ip) ? p.host_ip : location.hostname;
      const host = ip.includes(":") ? `[${ip}]` : ip;
      const text = `${p.host_port}→${p.container_port}/${p.protocol}`;
      return p.protocol === "tcp" ? (
        <a key={text} href={`http://${host}:${p.host_port}/`} target="_blank" rel="noreferrer">{text}</a>
      ) : (
        <span key={text}>{text}</span>
      );
    });
}

export function ContainersPage({ who, loc }: { who: WhoAmI; loc: Location }) {
  const live = useContainers();
  const q = loc.query.get("q") ?? "";
  const sort = (loc.query.get("sort") ?? "name") as SortKey;
  const desc = loc.query.get("desc") === "1";
  const group = loc.query.get("group") ?? "";
  const onHost = loc.query.get("host");
  const [asking, setAsking] = useState<{ action: Action; c: Row } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [picked, setPicked] = useState<Set<string>>(new Set());
  const keyOf = (c: Row): string => (c.host ? `${c.host}:${c.name}` : c.name);
  const pick = (c: Row, on: boolean): void => {
    const next = new Set(picked);
    if (on) next.add(keyOf(c));
    else next.delete(keyOf(c));
    setPicked(next);
  };
  const operator = can(who, "operator");

  // lazydocker's keys: j / k move between containers, l opens the current one's logs.
  useEffect(() => {
    const onKey = (e: KeyboardEvent): void => {
      const t = e.target as HTMLElement | null;
      if (e.ctrlKey || e.metaKey || e.altKey || (t && /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
      if (document.querySelector("dialog[open]")) return;
      const links = [...document.querySelectorAll<HTMLAnchorElement>("table.containers a.name")];
      const at = links.findIndex((a) => a === document.activeElement);
      if (e.key === "j" || e.key === "k") {
        e.preventDefault();
        const next = e.key === "j" ? Math.min(at + 1, links.length - 1) : Math.max(at - 1, 0);
        links[next]?.focus();
      } else if (e.key === "l" && at >= 0) {
        e.preventDefault();
        links[at]?.closest("tr")?.querySelector<HTMLAnchorElement>("a.logs-link")?.click();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  const health = (c: Row): string => live.health.get(c.id) ?? c.health ?? "none";
  const rows = useMemo(() => {
    const needle = q.toLowerCase();
    const match = (c: Row): boolean =>
      !needle ||
      [c.name, c.image ?? "", c.state, c.host ?? "", health(c), ...Object.entries(c.labels ?? {}).map(([k, v]) => `${k}=${v}`)]
        .some((s) => s.toLowerCase().includes(needle));
    const value = (c: Row): string | number => {
      switch (sort) {
        case "cpu":
          return live.stats.get(c.id)?.cpu_percent ?? -1;
        case "memory":
          return live.stats.get(c.id)?.memory_usage ?? -1;
        case "created":
          return c.created ?? "";
        case "health":
          return health(c);
        case "image":
          return c.image ?? "";
        case "state":
          return c.state;
        default:
          return c.name;
      }
    };
    const list = (live.rows ?? []).filter((c) => (!onHost || c.host === onHost) && match(c));
    list.sort((a, b) => {
      const va = value(a);
      const vb = value(b);
      const r = typeof va === "number" && typeof vb === "number" ? va - vb : String(va).localeCompare(String(vb));
      return desc ? -r : r;
    });
    return list;
  }, [live.rows, live.stats, live.health, q, sort, desc, onHost]);
  const hostNames = useMemo(
    () => [...new Set((live.rows ?? []).map((c) => c.host).filter((h): h is string => !!h))].sort(),
    [live.rows],
  );

  const groups = useMemo(() => {
    const m = new Map<string, Row[]>();
    for (const c of rows) {
      const g = groupOf(c, group);
      m.set(g, [...(m.get(g) ?? []), c]);
    }
    return [...m.entries()].sort(([a], [b]) => a.localeCompare(b));
  }, [rows, group]);

  const header = (key: SortKey, text: string) => (
    <th scope="col" class={`col-${key}`} aria-sort={sort === key ? (desc ? "descending" : "ascending") : "none"}>
      <button type="button" class="sort" onClick={() => setQuery({ sort: key, desc: sort === key && !desc ? "1" : null })}>
        {text}
        {sort === key ? (desc ? " ▼" : " ▲") : ""}
      </button>
    </th>
  );

  const confirmAction = async (): Promise<void> => {
    if (!asking) return;
    const { action, c } = asking;
    setAsking(null);
    try {
      await run(action, c);
      setNotice(`${LABELS[action]}: ${c.name} done`);
      live.refresh();
    } catch (e) {
      setNotice(`${LABELS[action]} ${c.name} failed: ${problemText(e)}`);
    }
  };

  return (
    <main id="main" class="page">
      <div class="toolbar">
        <h1>Containers</h1>
        <label class="sr-only" for="filter">Filter containers</label>
        <input id="filter" type="search" data-search placeholder="Filter (/): name, image, state, label… (j/k move, l logs)" value={q}
          onInput={(e) => setQuery({ q: (e.target as HTMLInputElement).value })} />
        <label for="group">Group by</label>
        <select id="group" value={group.startsWith("label:") ? "label" : group}
          onChange={(e) => {
            const v = (e.target as HTMLSelectElement).value;
            setQuery({ group: v === "label" ? `label:${window.prompt("Label key to group by") ?? ""}` : v });
          }}>
          <option value="">nothing</option>
          <option value="compose">compose project</option>
          <option value="stack">stack</option>
          <option value="label">label…</option>
        </select>
        {hostNames.length > 1 && (
          <>
            <label for="host-filter">Host</label>
            <select id="host-filter" value={onHost ?? ""} onChange={(e) => setQuery({ host: (e.target as HTMLSelectElement).value })}>
              <option value="">all hosts</option>
              {hostNames.map((h) => <option key={h} value={h}>{h}</option>)}
            </select>
          </>
        )}
        {picked.size > 0 && (
          <a {...linkTo(`/logs?c=${[...picked].map(encodeURIComponent).join(",")}`)} class="button-link">
            Logs of {picked.size} selected
          </a>
        )}
        <span class={`live ${live.connected ? "on" : "off"}`} role="status">
          {live.connected ? "live" : "connecting…"}
        </span>
      </div>
      {notice && <p class="notice" role="status">{notice}</p>}
      {live.error && <p class="error" role="alert">{live.error}</p>}
      {live.rows === null ? (
        <p>Loading…</p>
      ) : (
        <div class="table-wrap" tabIndex={0} role="region" aria-label="Containers table">
          <table class="containers">
            <caption class="sr-only">Containers, {rows.length} shown</caption>
            <thead>
              <tr>
                <th scope="col"><span class="sr-only">Select</span></th>
                {header("name", "Name")}
                {header("image", "Image")}
                {header("state", "State")}
                {header("health", "Health")}
                {header("cpu", "CPU")}
                {header("memory", "Memory")}
                <th scope="col" class="col-ports">Ports</th>
                {header("created", "Age")}
                <th scope="col">Actions</th>
              </tr>
            </thead>
            {groups.map(([g, list]) => (
              <tbody key={g}>
                {group && (
                  <tr class="group">
                    <th colSpan={10} scope="rowgroup">
                      {g} <span class="count">({list.length})</span>
                      {g !== "(none)" && (
                        <a class="group-logs" {...linkTo(
                          group === "compose"
                            ? `/logs?project=${encodeURIComponent(g)}`
                            : `/logs?label=${encodeURIComponent(`${group.startsWith("label:") ? group.slice(6) : GROUPS[group]}=${g}`)}`,
                        )}>Merged logs</a>
                      )}
                    </th>
                  </tr>
                )}
                {list.map((c) => {
                  const s = live.stats.get(c.id);
                  const h = health(c);
                  const hostQ = c.host ? `?host=${encodeURIComponent(c.host)}` : "";
                  // A container being removed can have no name left: its short id then.
                  const label = c.name || c.id.slice(0, 12);
                  return (
                    <tr key={`${c.host ?? ""}/${c.id}`} data-name={c.name}>
                      <td>
                        <input type="checkbox" aria-label={`Select ${label}`} checked={picked.has(keyOf(c))}
                          onChange={(e) => pick(c, (e.target as HTMLInputElement).checked)} />
                      </td>
                      <td>
                        <a {...linkTo(`/containers/${encodeURIComponent(c.name || c.id)}${hostQ}`)} class="name" title={label}>{label}</a>
                        {c.host && <span class="host-tag">{c.host}</span>}
                      </td>
                      <td class="image col-image" title={c.image ?? ""}>{c.image}</td>
                      <td><span class={`badge state-${c.state}`}>{c.state}</span></td>
                      <td>{h !== "none" && <span class={`badge health-${h}`}>{h}</span>}</td>
                      <td class="num">{c.state === "running" ? percent(s?.cpu_percent) : ""}</td>
                      <td class="num">{c.state === "running" ? bytes(s?.memory_usage) : ""}</td>
                      <td class="ports col-ports">{portLinks(c)}</td>
                      <td class="num col-created" title={c.created ?? ""}>{age(c.created)}</td>
                      {(
                        <td class="actions">
                          <a class="logs-link" {...linkTo(`/logs?c=${encodeURIComponent(c.name)}${c.host ? `&host=${encodeURIComponent(c.host)}` : ""}`)}>Logs</a>
                          {operator && actionsFor(c.state).map((a) => (
                            <button key={a} type="button" class={a === "remove" || a === "kill" ? "danger small" : "small"}
                              aria-label={`${LABELS[a]} ${c.name}`} onClick={() => setAsking({ action: a, c })}>
                              {LABELS[a]}
                            </button>
                          ))}
                        </td>
                      )}
                    </tr>
                  );
                })}
              </tbody>
            ))}
          </table>
          {rows.length === 0 && <p>No container matches.</p>}
        </div>
      )}
      {asking && (
        <Confirm
          title={`${LABELS[asking.action]} ${asking.c.name}?`}
          body={asking.action === "remove" ? "The container and its writable layer are deleted." : `This will ${asking.action} the container ${asking.c.name}.`}
          confirm={LABELS[asking.action]}
          danger={asking.action === "remove" || asking.action === "kill"}
          onConfirm={() => void confirmAction()}
          onCancel={() => setAsking(null)}
        />
      )}
    </main>
  );
}

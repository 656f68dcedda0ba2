// Issue 19's pages (terminal, stats, images, volumes, networks, events, run, audit,
// Swarm, alerts): each is its own chunk, loaded when its path is first opened, so the
// first page's budget carries none of them (xterm.js alone is ~100 KB gzipped).
import type { ComponentType } from "preact";
import { useEffect, useState } from "preact/hooks";
import type { WhoAmI } from "./api/client";
import { can, type Role } from "./api/session";
import type { Location } from "./router";
import "./pages.css";

export interface PageProps {
  who: WhoAmI;
  loc: Location;
  /** The container named in /containers/{name}/… (the service in /swarm/services/{id}) */
  name?: string;
}

type Loader = () => Promise<ComponentType<PageProps>>;

interface Entry {
  path: RegExp;
  load: Loader;
  title: string;
}

const ENTRIES: Entry[] = [
  { path: /^\/containers\/([^/]+)\/terminal$/, title: "Terminal", load: async () => (await import("./terminal/TerminalPage")).TerminalPage },
  { path: /^\/containers\/([^/]+)\/stats$/, title: "Stats", load: async () => (await import("./stats/ContainerStatsPage")).ContainerStatsPage },
  { path: /^\/stats$/, title: "Stats", load: async () => (await import("./stats/FleetPage")).FleetPage },
  { path: /^\/images$/, title: "Images", load: async () => (await import("./images/ImagesPage")).ImagesPage },
  { path: /^\/volumes$/, title: "Volumes", load: async () => (await import("./volumes/VolumesPage")).VolumesPage },
  { path: /^\/networks$/, title: "Networks", load: async () => (await import("./networks/NetworksPage")).NetworksPage },
  { path: /^\/events$/, title: "Events", load: async () => (await import("./events/EventsPage")).EventsPage },
  { path: /^\/run$/, title: "Run a container", load: async () => (await import("./run/RunPage")).RunPage },
  { path: /^\/audit$/, title: "Audit log", load: async () => (await import("./audit/AuditPage")).AuditPage },
  { path: /^\/swarm\/services\/([^/]+)$/, title: "Service", load: async () => (await import("./swarm/ServicePage")).ServicePage },
  { path: /^\/swarm$/, title: "Swarm", load: async () => (await import("./swarm/SwarmPage")).SwarmPage },
  { path: /^\/alerts$/, title: "Alerts", load: async () => (await import("./alerts/AlertsPage")).AlertsPage },
];

/** The main navigation's links to these pages, and who is shown each. */
export const NAV: { to: string; text: string; role: Role }[] = [
  { to: "/images", text: "Images", role: "viewer" },
  { to: "/volumes", text: "Volumes", role: "viewer" },
  { to: "/networks", text: "Networks", role: "viewer" },
  { to: "/stats", text: "Stats", role: "viewer" },
  { to: "/events", text: "Events", role: "viewer" },
  { to: "/run", text: "Run", role: "admin" },
  { to: "/swarm", text: "Swarm", role: "viewer" },
  { to: "/alerts", text: "Alerts", role: "admin" }, // rules hold webhook secrets: admin-only API
  { to: "/audit", text: "Audit", role: "admin" },
];

export function navFor(who: WhoAmI) {
  return NAV.filter((n) => can(who, n.role));
}

const loaded = new Map<Entry, ComponentType<PageProps>>();

function Lazy({ entry, props }: { entry: Entry; props: PageProps }) {
  const [Page, setPage] = useState<ComponentType<PageProps> | undefined>(() => loaded.get(entry));
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (Page) return;
    entry.load().then(
      (p) => {
        loaded.set(entry, p);
        setPage(() => p);
      },
      (e: unknown) => setError(e instanceof Error ? e.message : String(e)),
    );
  }, [entry]);
  if (error) return <main id="main" class="page"><h1>{entry.title}</h1><p class="error" role="alert">{error}</p></main>;
  if (!Page) return <main id="main" class="page" aria-busy="true"><h1>{entry.title}</h1><p>Loading…</p></main>;
  return <Page {...props} />;
}

/** The page for `loc`, or null when the path is not one of these. */
export function extraPage(who: WhoAmI, loc: Location) {
  for (const entry of ENTRIES) {
    const m = loc.path.match(entry.path);
    if (!m) continue;
    const name = m[1] === undefined ? undefined : decodeURIComponent(m[1]);
    return <Lazy key={`${entry.title}/${name ?? ""}`} entry={entry} props={{ who, loc, name }} />;
  }
  return null;
}

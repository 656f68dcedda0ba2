// A small history router under /ui/: the path picks the page, the query holds the
// page's state (filters, search), so every view is a link that can be shared.
import { useEffect, useState } from "preact/hooks";

export const BASE = "/ui";

export interface Location {
  path: string; // below /ui, e.g. "/" or "/containers/web-1"
  query: URLSearchParams;
}

function current(): Location {
  const path = window.location.pathname.startsWith(BASE)
    ? window.location.pathname.slice(BASE.length) || "/"
    : "/";
  return { path, query: new URLSearchParams(window.location.search) };
}

const listeners = new Set<() => void>();

/** Go to a page below /ui (`replace`: no new history entry, e.g. typing a filter). */
export function navigate(to: string, replace = false): void {
  const url = BASE + to;
  if (replace) window.history.replaceState(null, "", url);
  else window.history.pushState(null, "", url);
  for (const l of listeners) l();
}

/** Change one query parameter of the current page in place. */
export function setQuery(changes: Record<string, string | null>): void {
  const loc = current();
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === "") loc.query.delete(k);
    else loc.query.set(k, v);
  }
  const q = loc.query.toString();
  navigate(loc.path + (q ? `?${q}` : ""), true);
}

export function useLocation(): Location {
  const [loc, setLoc] = useState(current);
  useEffect(() => {
    const update = (): void => setLoc(current());
    listeners.add(update);
    window.addEventListener("popstate", update);
    return () => {
      listeners.delete(update);
      window.removeEventListener("popstate", update);
    };
  }, []);
  return loc;
}

/** A same-page link: no reload, a real href (open in a new tab works). */
export function linkTo(to: string): { href: string; onClick: (e: MouseEvent) => void } {
  return {
    href: BASE + to,
    onClick: (e: MouseEvent) => {
      if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      navigate(to);
    },
  };
}

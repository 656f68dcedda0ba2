// The API client for one host of several: every request it sends names `host=` (the
// query parameter every engine route takes), so a page written against one client
// works per host by asking `apiFor(host)` instead.
import createClient, { type Middleware } from "openapi-fetch";
import { api, csrfToken } from "./client";
import { useLocation } from "../router";
import type { paths } from "./schema";

type Client = typeof api;
const clients = new Map<string, Client>();

export function apiFor(host: string | null | undefined): Client {
  if (!host) return api;
  let c = clients.get(host);
  if (!c) {
    const onHost: Middleware = {
      onRequest({ request }) {
        const url = new URL(request.url);
        if (!url.searchParams.has("host")) url.searchParams.set("host", host);
        const token = csrfToken();
        const req = new Request(url, request);
        if (token && req.method !== "GET" && req.method !== "HEAD") req.headers.set("X-CSRF-Token", token);
        return req;
      },
    };
    c = createClient<paths>({ baseUrl: "", credentials: "same-origin" });
    c.use(onHost);
    clients.set(host, c);
  }
  return c;
}

/** The client for the host the page's URL names (?host=), or the default one. */
export function useApi(): Client {
  return apiFor(useLocation().query.get("host"));
}

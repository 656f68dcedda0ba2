// The dashboard's one API client: openapi-fetch over the types openapi-typescript
// generated from openapi/openapi.json (src/api/schema.d.ts), as any user's client is.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type ContainerSummary = Schemas["ContainerSummary"];
export type Container = Schemas["Container"];
export type StatsSample = Schemas["StatsSample"];
export type HealthEvent = Schemas["HealthEvent"];
export type LogEvent = Schemas["LogEvent"];
export type Problem = Schemas["Problem"];
export type WhoAmI = Schemas["WhoAmI"];

let csrf: string | null = null;

/** The session's CSRF token (for a client of another host: src/api/hosted.ts). */
export const csrfToken = (): string | null => csrf;

/** The session's CSRF token, sent as X-CSRF-Token on every change. */
export function setCsrf(token: string | null): void {
  csrf = token;
}

/** Fired when the API answers 401 to a page that was signed in (the session ended). */
export const SIGNED_OUT = "moorage:signed-out";

const withCsrf: Middleware = {
  onRequest({ request }) {
    if (csrf && request.method !== "GET" && request.method !== "HEAD") {
      request.headers.set("X-CSRF-Token", csrf);
    }
    return request;
  },
  onResponse({ request, response }) {
    // whoami and sign-in answer 401 by design; elsewhere it means the session is over.
    if (response.status === 401 && !new URL(request.url).pathname.startsWith("/v1/auth/")) {
      window.dispatchEvent(new Event(SIGNED_OUT));
    }
    return response;
  },
};

// Relative URLs: the page and the API are one origin (127.0.0.1 and localhost differ).
export const api = createClient<paths>({ baseUrl: "", credentials: "same-origin" });
api.use(withCsrf);

/** An error carrying the problem document the API answered. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Partial<Problem> | undefined,
  ) {
    super(problem?.detail ?? problem?.title ?? `HTTP ${status}`);
  }
}

/** The data of an openapi-fetch answer, or an ApiError with its problem document. */
export function ok<T>(r: { data?: T; error?: unknown; response: Response }): T {
  if (r.error !== undefined || !r.response.ok) {
    throw new ApiError(r.response.status, r.error as Partial<Problem> | undefined);
  }
  return r.data as T;
}

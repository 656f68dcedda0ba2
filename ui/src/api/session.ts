// Who is looking: a token given once becomes an HttpOnly session cookie
// (POST /v1/auth/session); GET /v1/auth/whoami tells a reloaded page its role and
// CSRF token. On loopback with no tokens configured there is nothing to log in to.
import { api, ApiError, ok, setCsrf, type WhoAmI } from "./client";

export type Role = "viewer" | "operator" | "admin";
const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

/** May this identity do what `needed` may (the API's own role table decides anyway). */
export function can(who: WhoAmI | null, needed: Role): boolean {
  return who !== null && (RANK[who.role as Role] ?? 0) >= RANK[needed];
}

/** The current identity, or null when the page must ask for a token. */
export async function whoami(): Promise<WhoAmI | null> {
  const r = await api.GET("/v1/auth/whoami");
  if (r.response.status === 401) return null;
  const who = ok(r);
  setCsrf(who.csrf_token ?? null);
  return who;
}

let first: Promise<WhoAmI | null> | undefined;

/** The page's first whoami: main.tsx asks before the first render, so that the
answer is not waiting for the render and its effects (a page opened on its logs
draws its first lines one round trip sooner). */
export function firstWhoami(): Promise<WhoAmI | null> {
  first ??= whoami();
  return first;
}

export async function login(token: string): Promise<WhoAmI> {
  const r = await api.POST("/v1/auth/session", {
    headers: { Authorization: `Bearer ${token.trim()}` },
  });
  if (r.response.status === 401) throw new ApiError(401, { detail: "That token is not valid" });
  const session = ok(r);
  setCsrf(session.csrf_token);
  const who = await whoami();
  if (who === null) throw new ApiError(401, { detail: "The session did not open" });
  return who;
}

export async function logout(): Promise<void> {
  await api.DELETE("/v1/auth/session");
  setCsrf(null);
}

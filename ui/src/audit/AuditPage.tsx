import type { PageProps } from "../pages";

export function AuditPage(_p: PageProps) {
  return <main id="main" class="page"><h1>AuditPage</h1></main>;
}

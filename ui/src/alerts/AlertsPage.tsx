import type { PageProps } from "../pages";

export function AlertsPage(_p: PageProps) {
  return <main id="main" class="page"><h1>AlertsPage</h1></main>;
}

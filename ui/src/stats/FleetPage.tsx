import type { PageProps } from "../pages";

export function FleetPage(_p: PageProps) {
  return <main id="main" class="page"><h1>FleetPage</h1></main>;
}

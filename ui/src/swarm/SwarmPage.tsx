import type { PageProps } from "../pages";

export function SwarmPage(_p: PageProps) {
  return <main id="main" class="page"><h1>SwarmPage</h1></main>;
}

import type { PageProps } from "../pages";

export function ContainerStatsPage(_p: PageProps) {
  return <main id="main" class="page"><h1>ContainerStatsPage</h1></main>;
}

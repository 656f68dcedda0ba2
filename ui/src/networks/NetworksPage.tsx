import type { PageProps } from "../pages";

export function NetworksPage(_p: PageProps) {
  return <main id="main" class="page"><h1>NetworksPage</h1></main>;
}

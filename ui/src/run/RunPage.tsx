import type { PageProps } from "../pages";

export function RunPage(_p: PageProps) {
  return <main id="main" class="page"><h1>RunPage</h1></main>;
}

import type { PageProps } from "../pages";

export function EventsPage(_p: PageProps) {
  return <main id="main" class="page"><h1>EventsPage</h1></main>;
}

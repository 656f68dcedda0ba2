import type { PageProps } from "../pages";

export function VolumesPage(_p: PageProps) {
  return <main id="main" class="page"><h1>VolumesPage</h1></main>;
}

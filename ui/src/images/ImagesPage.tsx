import type { PageProps } from "../pages";

export function ImagesPage(_p: PageProps) {
  return <main id="main" class="page"><h1>ImagesPage</h1></main>;
}

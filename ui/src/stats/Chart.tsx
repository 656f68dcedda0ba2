// A hand-drawn SVG line chart (no chart library: ~1 KB instead of ~60 KB gzipped):
// one or two series over the last samples, scaled to the largest value shown.
export interface Series {
  name: string;
  values: number[];
}

export function Chart({ title, series, format, min }: { title: string; series: Series[]; format: (n: number) => string; min?: number }) {
  const n = Math.max(2, ...series.map((s) => s.values.length));
  const top = Math.max(min ?? 0, ...series.flatMap((s) => s.values), 1e-9);
  const path = (vs: number[]): string =>
    vs.map((v, i) => `${((i + n - vs.length) / (n - 1)) * 300},${100 - (v / top) * 96}`).join(" ");
  const last = series.map((s) => s.values[s.values.length - 1]);
  return (
    <figure class="chart">
      <figcaption><span>{title}</span><span>{last.map((v) => (v === undefined ? "–" : format(v))).join(" / ")}</span></figcaption>
      <svg viewBox="0 0 300 100" preserveAspectRatio="none" role="img"
        aria-label={`${title}: ${series.map((s, i) => `${s.name} ${last[i] === undefined ? "no data" : format(last[i] ?? 0)}`).join(", ")}; peak ${format(top)}`}>
        {[25, 50, 75].map((y) => <line key={y} class="grid-line" x1="0" x2="300" y1={y} y2={y} vector-effect="non-scaling-stroke" />)}
        {series.map((s, i) => <polyline key={s.name} class={`s${i}`} points={path(s.values)} vector-effect="non-scaling-stroke" />)}
      </svg>
      <div class="legend">
        {series.map((s, i) => <span key={s.name} class={`key${i}`}>{s.name}</span>)}
        <span>peak {format(top)}</span>
      </div>
    </figure>
  );
}

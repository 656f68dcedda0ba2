// "k=v" text (one a line, or comma-separated) ⇄ an object, for labels and options.
export function parseKv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(/[\n,]/)) {
    const s = part.trim();
    if (!s) continue;
    const eq = s.indexOf("=");
    out[eq < 0 ? s : s.slice(0, eq).trim()] = eq < 0 ? "" : s.slice(eq + 1).trim();
  }
  return out;
}

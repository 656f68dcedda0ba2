// The finder's match: letters in order, scored.

/** Subsequence match, scored: consecutive letters and word starts count more. */
export function fuzzy(query: string, text: string): number | null {
  const q = query.toLowerCase();
  const t = text.toLowerCase();
  if (!q) return 0;
  let score = 0;
  let ti = 0;
  let run = 0;
  for (const ch of q) {
    const i = t.indexOf(ch, ti);
    if (i < 0) return null;
    run = i === ti ? run + 1 : 0;
    score += 1 + run * 2 + (i === 0 || /[-_./ ]/.test(t[i - 1] ?? "") ? 3 : 0);
    ti = i + 1;
  }
  return score - t.length * 0.01;
}

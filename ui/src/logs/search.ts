// Search as the URL states it: text or regular expression, smart case (case matters
// only when the query has a capital letter), inverted or not.

export interface Search {
  q: string;
  regex: boolean;
  invert: boolean;
}

export interface Matcher {
  test: (text: string) => boolean;
  /** Ranges to highlight in a line that matched (none when inverted). */
  ranges: (text: string) => [number, number][];
  error: string | null;
  active: boolean;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

export function matcher(s: Search): Matcher {
  if (!s.q) return { test: () => true, ranges: () => [], error: null, active: false };
  const flags = /[A-Z]/.test(s.q) ? "g" : "gi";
  let re: RegExp;
  try {
    re = new RegExp(s.regex ? s.q : escape(s.q), flags);
  } catch (e) {
    return {
      test: () => true,
      ranges: () => [],
      error: e instanceof Error ? e.message : String(e),
      active: false,
    };
  }
  const one = new RegExp(re.source, flags.replace("g", ""));
  return {
    test: (t) => one.test(t) !== s.invert,
    ranges: (t) => {
      if (s.invert) return [];
      const out: [number, number][] = [];
      re.lastIndex = 0;
      for (let m = re.exec(t); m && out.length < 50; m = re.exec(t)) {
        if (m[0].length === 0) {
          re.lastIndex++;
          continue;
        }
        out.push([m.index, m.index + m[0].length]);
      }
      return out;
    },
    error: null,
    active: true,
  };
}

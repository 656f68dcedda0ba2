// NDJSON bodies read as they arrive, for the history route: a 100,000-line answer is
// parsed a piece at a time, yielding to the page between pieces, never as one task.

const SLICE_MS = 25; // parse for at most this long before letting the page draw

/** NDJSON objects from a body, each made into a `T` by `make`, in order. */
export async function readNdjson<O, T>(body: ReadableStream<Uint8Array>, make: (o: O) => T): Promise<T[]> {
  const out: T[] = [];
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let rest = "";
  let since = performance.now();
  const take = (text: string, from: number, to: number): void => {
    let at = from;
    while (at < to) {
      let nl = text.indexOf("\n", at);
      if (nl < 0 || nl > to) nl = to;
      if (nl > at) out.push(make(JSON.parse(text.slice(at, nl)) as O));
      at = nl + 1;
    }
  };
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const text = rest + decoder.decode(value, { stream: true });
    const cut = text.lastIndexOf("\n");
    if (cut < 0) {
      rest = text;
      continue;
    }
    take(text, 0, cut);
    rest = text.slice(cut + 1);
    // A body already buffered resolves every read at once: yield now and then.
    if (performance.now() - since > SLICE_MS) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      since = performance.now();
    }
  }
  rest += decoder.decode();
  if (rest) take(rest, 0, rest.length);
  return out;
}

// Server-Sent Events from a POST (pull, push, build): an EventSource can only GET, so
// the answer is read with fetch and parsed here. A refusal before the first event is a
// problem response (thrown as ApiError); a later failure is `event: error`.
import { ApiError } from "../api/client";

export type EventHandlers = Record<string, (data: unknown) => void>;

/** Read the events of an answer (openapi-fetch with `parseAs: "stream"`) as they come. */
export async function readEvents(
  answer: { error?: unknown; response: Response },
  on: EventHandlers,
): Promise<void> {
  const body = answer.response.body;
  if (!answer.response.ok || !body) {
    throw new ApiError(answer.response.status, answer.error as ApiError["problem"]);
  }
  const reader = body.getReader();
  const text = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += text.decode(value, { stream: true }).replace(/\r\n/g, "\n");
    let cut: number;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      let event = "message";
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length === 0) continue;
      let parsed: unknown = data.join("\n");
      try {
        parsed = JSON.parse(parsed as string);
      } catch {
        // text stays text
      }
      on[event]?.(parsed);
    }
  }
}

// One terminal's WebSocket (README "Terminals"): binary frames are bytes both ways,
// text frames JSON control (`ready` first, `exit` last, `resize` from us). A drop that
// is not the end (no `exit`, no close 1000) is reconnected to the same exec: moorage
// keeps it for MOORAGE_TERMINAL_REATTACH_GRACE seconds and first sends its last output
// again, so the screen is reset before that replay is written.
import { api, ok } from "../api/client";

export type Target =
  | { kind: "exec"; container: string; host?: string; cmd?: string[]; user?: string }
  | { kind: "attach"; container: string; host?: string };

export type State = "connecting" | "open" | "reconnecting" | "exited" | "closed" | "failed";

export interface Callbacks {
  output(bytes: Uint8Array): void;
  /** Before the output of a new socket: what it sends first is a replay. */
  reset(): void;
  state(s: State, detail?: string): void;
}

const MAX_TRIES = 8;

export class Connection {
  private ws: WebSocket | null = null;
  private path = "";
  private tty = true;
  private ended = false;
  private tries = 0;
  private opened = 0;
  private retry: number | undefined;
  private readonly enc = new TextEncoder();

  constructor(
    private readonly target: Target,
    private size: { rows: number; cols: number },
    private readonly cb: Callbacks,
  ) {}

  /** The command the exec runs (the shell moorage chose when none was asked for). */
  cmd: string[] = [];

  async start(): Promise<void> {
    this.cb.state("connecting");
    const t = this.target;
    if (t.kind === "exec") {
      const created = ok(
        await api.POST("/v1/containers/{id}/exec", {
          params: { path: { id: t.container }, query: { host: t.host } },
          body: { interactive: true, tty: true, rows: this.size.rows, cols: this.size.cols, cmd: t.cmd, user: t.user || undefined },
        }),
      ) as { ws: string; cmd: string[] };
      this.path = created.ws;
      this.cmd = created.cmd;
    } else {
      this.path = `/v1/containers/${encodeURIComponent(t.container)}/attach/ws`;
    }
    this.open();
  }

  private url(): string {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    let path = this.path;
    if (this.target.kind === "attach") {
      // The earlier output first, on the first socket and on a reconnect alike.
      path += `?logs=true&rows=${this.size.rows}&cols=${this.size.cols}`;
      if (this.target.host) path += `&host=${encodeURIComponent(this.target.host)}`;
    }
    return `${proto}//${location.host}${path}`;
  }

  private open(): void {
    if (this.ended) return;
    const ws = new WebSocket(this.url());
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    let first = true;
    ws.onopen = () => {
      this.opened++;
      if (this.opened > 1) this.sendControl({ type: "resize", ...this.size });
    };
    ws.onmessage = (ev: MessageEvent<string | ArrayBuffer>) => {
      if (typeof ev.data === "string") {
        this.control(ev.data);
        return;
      }
      let bytes = new Uint8Array(ev.data);
      // Without a TTY each frame starts with its channel (1 stdout, 2 stderr).
      if (!this.tty && bytes.length > 0) bytes = bytes.subarray(1);
      if (first) {
        first = false;
        if (this.opened > 1) this.cb.reset();
      }
      this.cb.output(bytes);
    };
    ws.onclose = (ev: CloseEvent) => {
      this.ws = null;
      if (this.ended) return;
      if (ev.code === 1000) {
        this.ended = true;
        this.cb.state("closed", ev.reason || undefined);
        return;
      }
      this.tries++;
      if (this.tries > MAX_TRIES) {
        this.ended = true;
        this.cb.state("failed", ev.reason || `the connection was lost (${ev.code})`);
        return;
      }
      this.cb.state("reconnecting");
      this.retry = window.setTimeout(() => this.open(), Math.min(250 * 2 ** this.tries, 5000));
    };
  }

  private control(text: string): void {
    let msg: { type?: string; tty?: boolean; exit_code?: number; detail?: string };
    try {
      msg = JSON.parse(text) as typeof msg;
    } catch {
      return;
    }
    if (msg.type === "ready") {
      this.tty = msg.tty ?? true;
      this.tries = 0;
      this.cb.state("open");
    } else if (msg.type === "exit") {
      this.ended = true;
      this.cb.state("exited", `exit code ${msg.exit_code ?? "?"}`);
    } else if (msg.detail) {
      this.cb.state("failed", msg.detail);
    }
  }

  private sendControl(msg: object): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  /** What was typed, as the terminal's bytes. */
  send(data: string): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(this.enc.encode(data));
  }

  resize(rows: number, cols: number): void {
    if (rows === this.size.rows && cols === this.size.cols) return;
    this.size = { rows, cols };
    this.sendControl({ type: "resize", rows, cols });
  }

  /** Drop the socket as a network would (the exec lives on): a reconnect follows. */
  drop(): void {
    this.ws?.close(4000, "dropped");
  }

  /** End it: an exec's process ends; an attach detaches (the container runs on). */
  close(): void {
    this.ended = true;
    window.clearTimeout(this.retry);
    this.sendControl({ type: "close" });
    this.ws?.close(1000);
    this.ws = null;
  }
}

// Stats samples → chart points: CPU and memory as they are; network and block I/O are
// byte counters, so their rate is the change over the time between two samples.
import type { StatsSample } from "../api/client";

export interface Point {
  cpu: number;
  mem: number;
  memLimit: number;
  rx: number;
  tx: number;
  read: number;
  write: number;
  pids: number;
}

export const KEEP = 120;

export function nextPoint(prev: StatsSample | undefined, s: StatsSample): Point {
  const dt = prev?.read && s.read ? (Date.parse(s.read) - Date.parse(prev.read)) / 1000 : 0;
  const rate = (a: number, b: number | undefined): number => (dt > 0 && b !== undefined ? Math.max(0, (a - b) / dt) : 0);
  return {
    cpu: s.cpu_percent,
    mem: s.memory_usage,
    memLimit: s.memory_limit,
    rx: rate(s.network_rx_bytes, prev?.network_rx_bytes),
    tx: rate(s.network_tx_bytes, prev?.network_tx_bytes),
    read: rate(s.block_read_bytes, prev?.block_read_bytes),
    write: rate(s.block_write_bytes, prev?.block_write_bytes),
    pids: s.pids,
  };
}

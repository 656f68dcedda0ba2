// The xterm.js terminal, fitted to its pane (this module is its own chunk: only the
// terminal page loads it).
import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import "@xterm/xterm/css/xterm.css";
import { adoptStyles, withInertStyles } from "./cspStyles";

export interface Screen {
  term: Terminal;
  /** Fit to the pane; gives the new size. */
  fit(): { rows: number; cols: number };
  dispose(): void;
}

const LIGHT = { background: "#f8fafc", foreground: "#111827", cursor: "#1d4ed8", selectionBackground: "#bfdbfe" };
const DARK = { background: "#020617", foreground: "#e5e7eb", cursor: "#93c5fd", selectionBackground: "#1e3a8a" };

export function createScreen(pane: HTMLElement, dark: boolean): Screen {
  const unadopt = adoptStyles(pane);
  const term = new Terminal({
    cursorBlink: true,
    fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace',
    fontSize: 13,
    scrollback: 5000,
    theme: dark ? DARK : LIGHT,
    // A screen reader reads the output as it comes (xterm's live region).
    screenReaderMode: false,
  });
  const fit = new FitAddon();
  term.loadAddon(fit);
  withInertStyles(() => term.open(pane));
  fit.fit();
  return {
    term,
    fit() {
      fit.fit();
      return { rows: term.rows, cols: term.cols };
    },
    dispose() {
      term.dispose();
      unadopt();
    },
  };
}

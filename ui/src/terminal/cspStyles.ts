// xterm.js writes its cell sizes, theme and scrollbar into <style> elements, which the
// page's CSP (style-src 'self', no inline styles) refuses. It only ever sets their
// `textContent` (and removes them), so while it builds its DOM `createElement("style")`
// gives an inert <moorage-style> instead, and each one's text is mirrored into a
// constructable style sheet (not an inline style under CSP), kept in step by a
// MutationObserver: the terminal renders and the CSP stays strict.
const TAG = "moorage-style";

/** Run `build` (xterm's `open`) with its <style> elements made inert. */
export function withInertStyles(build: () => void): void {
  const doc = document as Document & { createElement: Document["createElement"] };
  const create = Document.prototype.createElement;
  doc.createElement = function (this: Document, tag: string, opts?: ElementCreationOptions) {
    return create.call(this, tag.toLowerCase() === "style" ? TAG : tag, opts);
  } as Document["createElement"];
  try {
    build();
  } finally {
    delete (doc as { createElement?: unknown }).createElement;
  }
}

/** Mirror the inert style elements under `root` into adopted style sheets. */
export function adoptStyles(root: HTMLElement): () => void {
  const sheets = new Map<Element, CSSStyleSheet>();
  const sync = (el: Element): void => {
    let sheet = sheets.get(el);
    if (!sheet) {
      sheet = new CSSStyleSheet();
      sheets.set(el, sheet);
      document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
    }
    sheet.replaceSync(el.textContent ?? "");
  };
  const scan = (): void => {
    root.querySelectorAll(TAG).forEach(sync);
    // A removed element's rules go with it.
    for (const [el, sheet] of sheets) {
      if (!el.isConnected) {
        sheets.delete(el);
        document.adoptedStyleSheets = document.adoptedStyleSheets.filter((s) => s !== sheet);
      }
    }
  };
  const observer = new MutationObserver(scan);
  observer.observe(root, { subtree: true, childList: true, characterData: true });
  scan();
  return () => {
    observer.disconnect();
    const mine = new Set(sheets.values());
    document.adoptedStyleSheets = document.adoptedStyleSheets.filter((s) => !mine.has(s));
  };
}

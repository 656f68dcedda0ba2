// A modal that asks for one value (the native <dialog>: focus kept inside, Esc cancels).
import { useEffect, useRef, useState } from "preact/hooks";

export interface PromptProps {
  title: string;
  label: string;
  initial?: string;
  confirm: string;
  onSubmit: (value: string) => void;
  onCancel: () => void;
}

export function Prompt(p: PromptProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const [value, setValue] = useState(p.initial ?? "");
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
  }, []);
  return (
    <dialog ref={ref} class="confirm" aria-labelledby="prompt-title" onCancel={p.onCancel}>
      <form method="dialog" onSubmit={(e) => { e.preventDefault(); if (value.trim()) p.onSubmit(value.trim()); }}>
        <h2 id="prompt-title">{p.title}</h2>
        <p>
          <label for="prompt-value">{p.label}</label>
          <br />
          <input id="prompt-value" value={value} size={40} onInput={(e) => setValue((e.target as HTMLInputElement).value)} />
        </p>
        <div class="buttons">
          <button type="button" onClick={p.onCancel}>Cancel</button>
          <button type="submit" class="primary">{p.confirm}</button>
        </div>
      </form>
    </dialog>
  );
}

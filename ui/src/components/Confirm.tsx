// A modal confirmation (the native <dialog>: focus kept inside, Esc cancels).
import { useEffect, useRef } from "preact/hooks";

export interface ConfirmProps {
  title: string;
  body: string;
  confirm: string;
  danger?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}

export function Confirm(p: ConfirmProps) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
  }, []);
  return (
    <dialog ref={ref} class="confirm" aria-labelledby="confirm-title" onCancel={p.onCancel}>
      <h2 id="confirm-title">{p.title}</h2>
      <p>{p.body}</p>
      <div class="buttons">
        <button type="button" onClick={p.onCancel}>Cancel</button>
        <button type="button" class={p.danger ? "danger" : "primary"} onClick={p.onConfirm}>
          {p.confirm}
        </button>
      </div>
    </dialog>
  );
}

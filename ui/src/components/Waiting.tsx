// A page whose API is not in this moorage yet: says what it waits on, and checks
// whether the server has it (an API added later lights the page up on its release).
import { useEffect, useState } from "preact/hooks";

export function Waiting({ title, probe, what }: { title: string; probe: string; what: string }) {
  const [has, setHas] = useState<boolean | null>(null);
  useEffect(() => {
    void fetch(probe, { credentials: "same-origin" }).then((r) => setHas(r.status !== 404), () => setHas(false));
  }, [probe]);
  return (
    <main id="main" class="page">
      <h1>{title}</h1>
      <p class="notice">{what}</p>
      {has !== null && (
        <p class="muted" role="status">
          {has ? `This server answers ${probe}: the API is here, the page is not built yet.` : `This server does not offer ${probe} yet.`}
        </p>
      )}
    </main>
  );
}

// The live alert banner on every page (admins: the alert stream is theirs): an alert
// that fires shows until it resolves or is dismissed. Its own chunk, loaded after the
// first page has drawn, so the first page's budget does not carry it.
import { useEffect, useState } from "preact/hooks";
import { linkTo } from "../router";
import { openStream } from "../streams";
import type { Alert } from "./rules";

const KEEP = 3;
const key = (a: Alert): string => `${a.rule_id}/${a.host}/${a.container.id}`;

export function AlertBanner() {
  const [firing, setFiring] = useState<Alert[]>([]);
  useEffect(() => {
    const s = openStream("/v1/alerts/stream", {}, {
      on: {
        alert: (d) => {
          const a = d as Alert;
          setFiring((old) => {
            const rest = old.filter((x) => key(x) !== key(a));
            return a.state === "firing" ? [a, ...rest].slice(0, KEEP) : rest;
          });
        },
      },
    });
    return () => s.close();
  }, []);
  if (firing.length === 0) return null;
  return (
    <div class="alert-banner" role="alert" aria-live="assertive">
      {firing.map((a) => (
        <p key={key(a)} data-alert={a.rule}>
          <strong>{a.rule}</strong> {[a.host, a.container.name].filter(Boolean).join(" · ")}: {a.reason}
          <button type="button" class="small" aria-label={`Dismiss ${a.rule}`} onClick={() => setFiring((old) => old.filter((x) => key(x) !== key(a)))}>Dismiss</button>
        </p>
      ))}
      <a {...linkTo("/alerts")}>All alerts</a>
    </div>
  );
}

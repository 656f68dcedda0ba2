// Alerts: waits on the alerts API (rules, deliveries, the alert stream), which is
// being built beside this page and is not in this server's spec yet.
import { Waiting } from "../components/Waiting";
import type { PageProps } from "../pages";

export function AlertsPage(_p: PageProps) {
  return (
    <Waiting title="Alerts" probe="/v1/alerts/rules"
      what="Alert rules with an editor, their deliveries and a live banner from the alert stream: this page waits on the alerts API (/v1/alerts/rules, /v1/alerts/deliveries, /v1/alerts/stream), which is not in this release's API yet." />
  );
}

import { render } from "preact";
import { firstWhoami } from "./api/session";
import { App } from "./app";
import "./styles.css";

void firstWhoami().catch(() => undefined); // App reports a failure
const root = document.getElementById("app");
if (root) render(<App />, root);

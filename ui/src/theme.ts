// Light and dark: the system's choice until the user picks one (kept in localStorage).
export type Theme = "light" | "dark";

export function initTheme(): Theme {
  const saved = localStorage.getItem("moorage-theme");
  const t: Theme =
    saved === "light" || saved === "dark"
      ? saved
      : window.matchMedia("(prefers-color-scheme: dark)").matches
        ? "dark"
        : "light";
  document.documentElement.dataset.theme = t;
  return t;
}

export function toggleTheme(t: Theme): Theme {
  const next: Theme = t === "dark" ? "light" : "dark";
  localStorage.setItem("moorage-theme", next);
  document.documentElement.dataset.theme = next;
  return next;
}

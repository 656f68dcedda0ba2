// The dashboard's build: ui/ → app/ui/dist (packaged with moorage, served at /ui/).
// Swagger UI 5 (npm swagger-ui-dist) is copied beside it so /docs needs no CDN.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";

const here = dirname(fileURLToPath(import.meta.url));
const outDir = resolve(here, "../app/ui/dist");

function swaggerUi(): Plugin {
  return {
    name: "moorage-swagger-ui",
    apply: "build",
    closeBundle() {
      const from = resolve(here, "node_modules/swagger-ui-dist");
      mkdirSync(resolve(outDir, "swagger"), { recursive: true });
      for (const f of ["swagger-ui-bundle.js", "swagger-ui.css"]) {
        copyFileSync(resolve(from, f), resolve(outDir, "swagger", f));
      }
    },
  };
}

export default defineConfig({
  base: "/ui/",
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  plugins: [swaggerUi()],
  build: {
    outDir,
    emptyOutDir: true,
    target: "es2022",
    // No inline scripts or styles: the page's CSP allows only files of its own origin.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: true,
  },
  server: { proxy: { "/v1": "http://127.0.0.1:8000", "/openapi.json": "http://127.0.0.1:8000" } },
});

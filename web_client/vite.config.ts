/**
 * Build of the Studyverse browser client (`npm run build` -> dist/, served by the Python
 * server at `/`), the dev server (`npm run dev`, proxying the API and Socket.IO to a running
 * `studyverse serve`) and the Vitest suite (`npm test`).
 *
 * The MediaPipe WASM runtime is served from our own origin: the pinned
 * @mediapipe/tasks-vision package's `wasm/` directory is copied to dist/mediapipe/wasm/
 * (src/paths.ts) by the plugin below, and served from node_modules in dev. The face model is
 * not bundled: the server serves it from its data directory (README "Web client").
 */

import { createReadStream, cpSync, existsSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type { Plugin } from "vite";
import { defineConfig } from "vitest/config";
import { MEDIAPIPE_WASM_PATH } from "./src/paths";

const require = createRequire(import.meta.url);
/** The pinned package's wasm/ directory (resolved through its `exports` map). */
const WASM_SOURCE = path.dirname(require.resolve("@mediapipe/tasks-vision/vision_wasm_internal.js"));
const CONTENT_TYPES: Record<string, string> = {
  ".wasm": "application/wasm",
  ".js": "text/javascript; charset=utf-8",
};
/** Where `studyverse serve` listens, for the dev server's proxy. */
const SERVER = process.env.STUDYVERSE_SERVER_URL ?? "http://127.0.0.1:8000";

function mediapipeWasm(): Plugin {
  let outDir = "";
  return {
    name: "studyverse-mediapipe-wasm",
    configResolved(config) {
      outDir = path.resolve(config.root, config.build.outDir);
    },
    configureServer(server) {
      server.middlewares.use(MEDIAPIPE_WASM_PATH, (req, res, next) => {
        const name = path.basename((req.url ?? "").split("?")[0] ?? "");
        const file = path.join(WASM_SOURCE, name);
        if (!name || !existsSync(file) || !statSync(file).isFile()) {
          next();
          return;
        }
        res.setHeader("Content-Type",
          CONTENT_TYPES[path.extname(name)] ?? "application/octet-stream");
        createReadStream(file).pipe(res);
      });
    },
    writeBundle() {
      cpSync(WASM_SOURCE, path.join(outDir, MEDIAPIPE_WASM_PATH), { recursive: true });
    },
  };
}

export default defineConfig({
  plugins: [mediapipeWasm()],
  build: {
    target: "es2022",
    // the MediaPipe bundle is one large lazily loaded chunk; nothing to split further
    chunkSizeWarningLimit: 1024,
  },
  server: {
    proxy: {
      "/api": SERVER,
      "/models": SERVER,
      "/socket.io": { target: SERVER, ws: true },
    },
  },
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
  },
});

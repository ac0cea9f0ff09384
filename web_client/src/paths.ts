/**
 * Same-origin URLs the client loads besides its bundle. The server serves them
 * (game_server/app.py `_serve_client`); vite.config.ts copies the MediaPipe WASM files to
 * MEDIAPIPE_WASM_PATH in the build and serves them there in dev. Nothing comes from a CDN.
 */

/** Directory of the pinned @mediapipe/tasks-vision `wasm/` files (no trailing slash, the
 * form FilesetResolver.forVisionTasks expects). */
export const MEDIAPIPE_WASM_PATH = "/mediapipe/wasm";

/** The Face Landmarker model bundle, served from the server's data directory. */
export const FACE_MODEL_PATH = "/models/face_landmarker.task";

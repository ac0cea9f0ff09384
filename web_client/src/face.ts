/**
 * Face tracking in the browser: MediaPipe Face Landmarker on the camera, each result
 * encoded as a 72-byte avatar frame (frame.ts). While no face is visible the tracker sends
 * face-present=0 frames at 2 Hz (DESIGN.md section 4), so the server tells "face lost" from
 * "no frames". The WASM runtime and the model come from our own origin (paths.ts).
 *
 * FramePacer is the pure part (sequence numbers, capture times, the no-face cadence);
 * FaceTracker owns the camera, the landmarker and the timer that drives them.
 */

import type { FaceLandmarker } from "@mediapipe/tasks-vision";
import {
  encodeNoFaceFrame, frameFromLandmarkerResult, type LandmarkerResultLike,
} from "./frame";
import { FACE_MODEL_PATH, MEDIAPIPE_WASM_PATH } from "./paths";

/** Interval of face-present=0 frames while no face is visible, ms (2 Hz). */
export const NO_FACE_INTERVAL_MS = 500;
/** Detection rate the tracker aims at, frames/s (the server accepts 45 sustained). */
export const TRACKING_FPS = 30;

/** Turns landmarker results into the frames to send: a frame per tracked face, a no-face
 * frame at most every `noFaceIntervalMs` otherwise. Sequence numbers count sent frames
 * (mod 2**16); capture times are whole ms of the caller's monotonic clock. */
export class FramePacer {
  private seq = 0;
  private lastNoFaceMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly noFaceIntervalMs = NO_FACE_INTERVAL_MS) {}

  /** The frame to send for a result taken at `nowMs` (performance.now()), or null. Throws
   * RangeError for a result missing a blend shape (see frameFromLandmarkerResult). */
  frameFor(result: LandmarkerResultLike, nowMs: number): Uint8Array | null {
    const captureMs = Math.floor(nowMs);
    const frame = frameFromLandmarkerResult(result, this.seq, captureMs);
    if (frame !== null) {
      this.lastNoFaceMs = Number.NEGATIVE_INFINITY;
      this.seq = (this.seq + 1) & 0xffff;
      return frame;
    }
    if (nowMs - this.lastNoFaceMs < this.noFaceIntervalMs) return null;
    this.lastNoFaceMs = nowMs;
    const noFace = encodeNoFaceFrame(this.seq, captureMs);
    this.seq = (this.seq + 1) & 0xffff;
    return noFace;
  }
}

export interface FaceTrackerOptions {
  /** Called with every frame to send (e.g. StudySocket.sendFrame). */
  onFrame: (frame: Uint8Array) => void;
  /** Called with a detection error; tracking goes on. */
  onError?: (err: unknown) => void;
  wasmPath?: string;
  modelPath?: string;
  fps?: number;
}

/** A model or runtime that could not be loaded, with a message fit for the page. */
export class FaceSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FaceSetupError";
  }
}

export class FaceTracker {
  private timer: ReturnType<typeof setInterval> | null = null;
  private stream: MediaStream | null = null;
  private lastVideoTime = -1;
  private readonly pacer = new FramePacer();

  private constructor(
    private readonly landmarker: FaceLandmarker,
    private readonly options: FaceTrackerOptions,
  ) {}

  /** Load the WASM runtime and the model (GPU delegate, CPU if that fails). Throws
   * FaceSetupError when the server has no model (404) or the runtime cannot start. */
  static async create(options: FaceTrackerOptions): Promise<FaceTracker> {
    const modelPath = options.modelPath ?? FACE_MODEL_PATH;
    const probe = await fetch(modelPath, { method: "HEAD" });
    if (!probe.ok) {
      throw new FaceSetupError(
        `the server has no face model at ${modelPath} (HTTP ${probe.status}); see README "Web client"`);
    }
    const vision = await import("@mediapipe/tasks-vision");
    const fileset = await vision.FilesetResolver.forVisionTasks(
      options.wasmPath ?? MEDIAPIPE_WASM_PATH);
    const make = (delegate: "GPU" | "CPU"): Promise<FaceLandmarker> =>
      vision.FaceLandmarker.createFromOptions(fileset, {
        baseOptions: { modelAssetPath: modelPath, delegate },
        runningMode: "VIDEO",
        numFaces: 1,
        outputFaceBlendshapes: true,
        outputFacialTransformationMatrixes: true,
      });
    try {
      return new FaceTracker(await make("GPU"), options);
    } catch {
      try {
        return new FaceTracker(await make("CPU"), options);
      } catch (err) {
        throw new FaceSetupError(`Face Landmarker failed to start: ${String(err)}`);
      }
    }
  }

  /** Open the user-facing camera into `video` and start tracking. */
  async start(video: HTMLVideoElement): Promise<void> {
    this.stop();
    this.stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 } },
      audio: false,
    });
    video.srcObject = this.stream;
    video.muted = true;
    video.playsInline = true;
    await video.play();
    const fps = this.options.fps ?? TRACKING_FPS;
    this.timer = setInterval(() => this.tick(video), 1000 / fps);
  }

  /** Stop tracking and release the camera. */
  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    for (const track of this.stream?.getTracks() ?? []) track.stop();
    this.stream = null;
    this.lastVideoTime = -1;
  }

  /** Stop and free the landmarker (the tracker cannot be started again). */
  close(): void {
    this.stop();
    this.landmarker.close();
  }

  private tick(video: HTMLVideoElement): void {
    if (video.readyState < HTMLMediaElement.HAVE_CURRENT_DATA) return;
    if (video.currentTime === this.lastVideoTime) return; // no new camera frame
    this.lastVideoTime = video.currentTime;
    const now = performance.now();
    try {
      const frame = this.pacer.frameFor(this.landmarker.detectForVideo(video, now), now);
      if (frame !== null) this.options.onFrame(frame);
    } catch (err) {
      this.options.onError?.(err);
    }
  }
}

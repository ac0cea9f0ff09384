/**
 * Plays a recording as the camera path would send it: pure pacing, no timers (the caller
 * passes its clock). The recording loops; within a loop, the frame shown at playback time p
 * is the last one recorded at or before p, and a frame is sent when it changes, at most
 * `maxFps` per second (a 60 fps capture is sent at 30). While the face is hidden, the
 * player sends face-present=0 frames every `noFaceIntervalMs` (2 Hz, as src/face.ts does);
 * playback time keeps running meanwhile. Sequence numbers count sent frames (mod 2**16);
 * capture times are whole ms of the caller's clock (mod 2**32), like FramePacer's.
 */

import { NO_FACE_INTERVAL_MS, TRACKING_FPS } from "../face";
import { encodeFrame, encodeNoFaceFrame, FrameEncodeError } from "../frame";
import type { RecordedFrame, Recording } from "./recording";

export interface PlayerOptions {
  /** Cap on the frame rate sent, frames/s (default 30, the camera path's rate). */
  maxFps?: number;
  /** Interval of no-face frames while hidden, ms (default 500). */
  noFaceIntervalMs?: number;
}

/** Find the last index whose tMs <= t (frames sorted by tMs; 0 if t precedes them all). */
function frameAt(times: readonly number[], t: number): number {
  let lo = 0;
  let hi = times.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (times[mid]! <= t) lo = mid; else hi = mid - 1;
  }
  return lo;
}

export class RecordingPlayer {
  readonly loopMs: number;
  private readonly times: number[];
  private readonly minIntervalMs: number;
  private readonly noFaceIntervalMs: number;
  private seq = 0;
  private lastKey = -1;
  private lastSentMs = Number.NEGATIVE_INFINITY;
  private lastNoFaceMs = Number.NEGATIVE_INFINITY;
  private hidden = false;

  /** `startMs`: the caller's clock when playback time is 0. Throws RangeError for a
   * recording without frames. */
  constructor(readonly recording: Recording, private readonly startMs: number,
              options: PlayerOptions = {}) {
    const frames = recording.frames;
    if (frames.length === 0) throw new RangeError(`${recording.name}: no frames`);
    const maxFps = options.maxFps ?? TRACKING_FPS;
    this.minIntervalMs = 1000 / maxFps;
    this.noFaceIntervalMs = options.noFaceIntervalMs ?? NO_FACE_INTERVAL_MS;
    const t0 = frames[0]!.tMs;
    this.times = frames.map((f) => f.tMs - t0);
    const span = this.times[this.times.length - 1]!;
    // the last frame is held for one mean frame interval before the loop restarts
    const step = frames.length > 1 ? span / (frames.length - 1) : this.minIntervalMs;
    this.loopMs = Math.max(span + step, this.minIntervalMs);
  }

  /** Hide or show the face (hidden: no-face frames at 2 Hz, the first at the next poll). */
  setFaceHidden(hidden: boolean): void {
    if (hidden && !this.hidden) this.lastNoFaceMs = Number.NEGATIVE_INFINITY;
    if (!hidden && this.hidden) this.lastKey = -1;
    this.hidden = hidden;
  }

  get faceHidden(): boolean {
    return this.hidden;
  }

  /** Index of the recorded frame shown at `nowMs`, and which loop it is in. */
  position(nowMs: number): { loop: number; index: number } {
    // 1 us of slack: a poll scheduled at a frame's time must not miss it by a rounding error
    const elapsed = Math.max(0, nowMs - this.startMs) + 1e-3;
    const loop = Math.floor(elapsed / this.loopMs);
    return { loop, index: frameAt(this.times, elapsed - loop * this.loopMs) };
  }

  /** The 72-byte frame to send at `nowMs`, or null (nothing new, or the rate cap). */
  poll(nowMs: number): Uint8Array | null {
    const captureMs = Math.floor(nowMs);
    if (this.hidden) {
      if (nowMs - this.lastNoFaceMs < this.noFaceIntervalMs) return null;
      this.lastNoFaceMs = nowMs;
      return this.sent(encodeNoFaceFrame(this.seq, captureMs), nowMs);
    }
    const { loop, index } = this.position(nowMs);
    const key = loop * this.times.length + index;
    // 1 ms of slack, so a timer that fires a little early does not halve the rate
    if (key === this.lastKey || nowMs - this.lastSentMs < this.minIntervalMs - 1) return null;
    this.lastKey = key;
    return this.sent(this.encode(index, captureMs), nowMs);
  }

  /** When to poll next (caller's clock): the next recorded frame or no-face frame, but not
   * before the rate cap allows (so a 60 fps capture is sent as every other frame). */
  nextPollMs(nowMs: number): number {
    const capped = this.lastSentMs + this.minIntervalMs;
    if (this.hidden) return Math.max(nowMs, this.lastNoFaceMs + this.noFaceIntervalMs);
    const { loop, index } = this.position(nowMs);
    const next = index + 1 < this.times.length
      ? this.startMs + loop * this.loopMs + this.times[index + 1]!
      : this.startMs + (loop + 1) * this.loopMs;
    return Math.max(nowMs, next, capped);
  }

  private sent(bytes: Uint8Array, nowMs: number): Uint8Array {
    this.seq = (this.seq + 1) & 0xffff;
    this.lastSentMs = nowMs;
    return bytes;
  }

  private encode(index: number, captureMs: number): Uint8Array {
    const f = this.recording.frames[index]!;
    return encodeRecordedFrame(f, this.recording.hasPose, this.seq, captureMs);
  }
}

/** One recorded frame as a 72-byte frame, face present and shapes valid
 * (avatars.recordings.frame_bytes with pose_valid=hasPose; the pose is written either way).
 * A pose beyond the wire's range is sent as pose-invalid with a zero pose instead of
 * throwing. Throws FrameEncodeError for a non-finite score. */
export function encodeRecordedFrame(f: RecordedFrame, hasPose: boolean, seq: number,
                                    captureMs: number): Uint8Array {
  const common = { seq, captureMs, scores: f.scores };
  try {
    return encodeFrame({
      ...common, yawDeg: f.yawDeg, pitchDeg: f.pitchDeg, rollDeg: f.rollDeg, poseValid: hasPose,
    });
  } catch (err) {
    if (!(err instanceof FrameEncodeError) || !/Deg/.test(err.message)) throw err;
    return encodeFrame({ ...common, poseValid: false });
  }
}

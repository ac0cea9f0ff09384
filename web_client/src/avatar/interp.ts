/**
 * Snapshot interpolation of one member's frames (Valve's entity interpolation): frames
 * arrive at 10-30 Hz with jitter; each is placed on the local clock at its capture time
 * (the sender's monotonic ms, mapped by an offset estimated from arrivals), and the avatar
 * is drawn `delayMs` (100) behind now, blending the two frames around that render time, so
 * motion is smooth and late frames are not noticed. When the buffer runs dry the last frame
 * is held (no extrapolation). Pure: no three, no timers; the caller passes `nowMs`
 * (performance.now()).
 *
 * Offset: `local arrival - capture` of each frame is its one-way delay plus the clocks'
 * difference; the smallest recent value is the best estimate of the difference (the frame
 * that waited least). The estimate follows the minimum down at once and creeps up by
 * `creep` ms per ms (1 %) so a path that got slower, or clock drift, is followed within
 * seconds.
 *
 * Reset: the buffer starts over (and the offset is re-estimated) when the capture time
 * jumps more than `resetGapMs` either way (a stream that stopped, a sender that restarted
 * its clock) or the sequence number goes backwards by more than a reorder (a new session:
 * seq restarts at 0). A frame older than the newest, with an older sequence number, arrived
 * out of order and is dropped. Sequence numbers and capture times wrap (u16, u32).
 */

import { SHAPE_COUNT } from "../blendshapes";
import { FLAG_FACE, FLAG_POSE, FLAG_SHAPES, type Frame } from "../frame";

/** Default render delay behind now, ms (two to three frames at 30 Hz, one at 10 Hz). */
export const INTERP_DELAY_MS = 100;
/** Default capture-time jump that restarts the buffer, ms. */
export const RESET_GAP_MS = 2_000;
/** Snapshots kept at most per member. */
export const MAX_SNAPSHOTS = 32;
/** Sequence steps backwards still treated as reordering rather than a new stream. */
const REORDER_WINDOW = 64;

/** What to draw at a render time: 51 weights 0..1 in wire order, head pose in degrees
 * (pitch > 0 = looking down), whether a face and a measured pose are in it. */
export interface Sample {
  readonly weights: Float32Array;
  readonly yawDeg: number;
  readonly pitchDeg: number;
  readonly rollDeg: number;
  readonly face: boolean;
  readonly pose: boolean;
  readonly shapes: boolean;
  /** Capture seq of the older of the two frames blended (for tests and debugging). */
  readonly seq: number;
}

export interface InterpOptions {
  delayMs?: number;
  resetGapMs?: number;
  /** How fast the offset estimate may rise, ms per ms of local time. */
  creep?: number;
}

interface Snapshot {
  readonly frame: Frame;
  readonly captureMs: number; // unwrapped: ms since the stream's first frame
}

/** Signed ms from capture time `b` to `a` on the wrapping u32 clock, in -2**31..2**31-1. */
export function captureDeltaMs(a: number, b: number): number {
  const d = (a - b) >>> 0;
  return d >= 0x8000_0000 ? d - 0x1_0000_0000 : d;
}

function signed16(d: number): number {
  const x = d & 0xffff;
  return x >= 0x8000 ? x - 0x10000 : x;
}

/** Shortest-way blend of two angles in degrees (yaw and roll wrap at +-180). */
export function lerpAngleDeg(a: number, b: number, t: number): number {
  let d = (b - a) % 360;
  if (d > 180) d -= 360;
  if (d < -180) d += 360;
  const out = a + d * t;
  return out > 180 ? out - 360 : out < -180 ? out + 360 : out;
}

/** A frame's weights 0..1 in wire order. */
export function frameWeights(f: Frame): Float32Array {
  const w = new Float32Array(SHAPE_COUNT);
  for (let i = 0; i < SHAPE_COUNT; i++) w[i] = (f.shapes[i] as number) / 255;
  return w;
}

function sampleOf(f: Frame): Sample {
  return {
    weights: frameWeights(f),
    yawDeg: f.yawCdeg / 100, pitchDeg: f.pitchCdeg / 100, rollDeg: f.rollCdeg / 100,
    face: (f.flags & FLAG_FACE) !== 0, pose: (f.flags & FLAG_POSE) !== 0,
    shapes: (f.flags & FLAG_SHAPES) !== 0, seq: f.seq,
  };
}

/** Frames of one member, placed on the local clock, sampled behind now. */
export class SnapshotBuffer {
  readonly delayMs: number;
  private readonly resetGapMs: number;
  private readonly creep: number;
  private snaps: Snapshot[] = [];
  private newest: Snapshot | null = null; // kept when sampling discards older snapshots
  private offset = 0; // local ms - unwrapped capture ms
  private offsetAtMs = 0; // local ms of the last estimate
  /** Times the buffer started over (reset rule above). */
  resets = 0;
  /** Frames dropped as out of order. */
  dropped = 0;

  constructor(options: InterpOptions = {}) {
    this.delayMs = options.delayMs ?? INTERP_DELAY_MS;
    this.resetGapMs = options.resetGapMs ?? RESET_GAP_MS;
    this.creep = options.creep ?? 0.01;
  }

  /** Snapshots held. */
  get size(): number {
    return this.snaps.length;
  }

  /** Local times of the held snapshots, oldest first (for tests). */
  localTimes(): number[] {
    return this.snaps.map((s) => s.captureMs + this.offset);
  }

  /** Add a frame received at local `nowMs`. Returns "added", "reset" (the buffer started
   * over with it; the first frame ever is "added") or "dropped" (out of order). */
  push(frame: Frame, nowMs: number): "added" | "reset" | "dropped" {
    const last = this.newest;
    if (last === null) return this.restart(frame, nowMs, false);
    const dCap = captureDeltaMs(frame.captureMs, last.frame.captureMs);
    const dSeq = signed16(frame.seq - last.frame.seq);
    if (Math.abs(dCap) > this.resetGapMs || dSeq < -REORDER_WINDOW) {
      return this.restart(frame, nowMs, true);
    }
    if (dSeq <= 0 || dCap < 0) {
      if (dSeq > 0 || dCap > 0) return this.restart(frame, nowMs, true); // contradicts itself
      this.dropped += 1;
      return "dropped";
    }
    const snap = { frame, captureMs: last.captureMs + dCap };
    const rise = Math.max(0, nowMs - this.offsetAtMs) * this.creep;
    this.offset = Math.min(this.offset + rise, nowMs - snap.captureMs);
    this.offsetAtMs = nowMs;
    if (dCap === 0 && this.snaps[this.snaps.length - 1] === last) this.snaps.pop();
    this.snaps.push(snap);
    this.newest = snap;
    if (this.snaps.length > MAX_SNAPSHOTS) this.snaps.splice(0, this.snaps.length - MAX_SNAPSHOTS);
    return "added";
  }

  private restart(frame: Frame, nowMs: number, counted: boolean): "added" | "reset" {
    const snap = { frame, captureMs: 0 };
    this.snaps = [snap];
    this.newest = snap;
    this.offset = nowMs; // shown at once: a lone frame is held until the next one is due
    this.offsetAtMs = nowMs;
    if (counted) this.resets += 1;
    return counted ? "reset" : "added";
  }

  /** Forget every frame (a member that left); the next frame starts a new stream. */
  clear(): void {
    this.snaps = [];
    this.newest = null;
  }

  /** What to draw at local `nowMs` (render time nowMs - delayMs), or null before any frame.
   *
   * Between two frames the weights and pose are blended linearly (yaw and roll the short
   * way round); when either frame has no face (or no shapes) the older one is held until the
   * newer one's time, so a face never fades into the zeros of a no-face frame; the same for
   * the pose when either lacks one. Past the newest frame it is held. Frames older than the
   * pair in use are discarded. */
  sample(nowMs: number): Sample | null {
    const snaps = this.snaps;
    if (snaps.length === 0) return null;
    const t = nowMs - this.delayMs;
    let i = 0; // the last snapshot at or before t
    const local = (s: Snapshot): number => s.captureMs + this.offset;
    while (i + 1 < snaps.length && local(snaps[i + 1]!) <= t) i++;
    if (i > 0) snaps.splice(0, i); // nothing older is needed again
    const a = snaps[0]!;
    const b = snaps[1];
    if (b === undefined || t <= local(a)) return sampleOf(a.frame);
    const alpha = (t - local(a)) / (local(b) - local(a));
    const sa = sampleOf(a.frame);
    const sb = sampleOf(b.frame);
    const faces = sa.face && sb.face && sa.shapes && sb.shapes;
    const weights = faces ? new Float32Array(SHAPE_COUNT) : sa.weights;
    if (faces) {
      for (let k = 0; k < SHAPE_COUNT; k++) {
        weights[k] = sa.weights[k]! + (sb.weights[k]! - sa.weights[k]!) * alpha;
      }
    }
    const poses = sa.pose && sb.pose;
    return {
      weights,
      yawDeg: poses ? lerpAngleDeg(sa.yawDeg, sb.yawDeg, alpha) : sa.yawDeg,
      pitchDeg: poses ? sa.pitchDeg + (sb.pitchDeg - sa.pitchDeg) * alpha : sa.pitchDeg,
      rollDeg: poses ? lerpAngleDeg(sa.rollDeg, sb.rollDeg, alpha) : sa.rollDeg,
      face: sa.face, pose: sa.pose, shapes: sa.shapes, seq: sa.seq,
    };
  }
}

/**
 * What one member's avatar shows, separated from drawing it: the member's frames through
 * snapshot interpolation (interp.ts), the room's attention state on top, and the grid the
 * stage lays avatars out on. Pure (no three, no DOM); the stage calls `update(now)` once per
 * drawn frame and puts the result on the meshes.
 *
 * States: `distracted` eases (over ASLEEP_EASE_MS) into the asleep pose: head down and
 * tilted, eyes shut, jaw a little slack, everything else relaxed; `no_face` freezes the
 * avatar as it was (frames are still buffered, not shown); kind `ghost` is drawn
 * translucent. A frame without a face (or without shapes) keeps the last face; one without
 * a pose keeps the last pose.
 */

import { BLENDSHAPE_NAMES, SHAPE_COUNT, SHAPE_INDEX } from "../blendshapes";
import type { Frame } from "../frame";
import { SnapshotBuffer, type InterpOptions } from "./interp";

/** A member as the stage shows it (stage.ts re-exports this). `attention` is the room's
 * state for the member (protocol.ts Attention; unknown strings are shown as focused). */
export interface AvatarMember {
  slot: number;
  kind: "live" | "ghost";
  displayName: string;
  attention: string;
}

/** Pose of the asleep state, degrees (pitch > 0 = looking down). */
export const ASLEEP_POSE = { yawDeg: 0, pitchDeg: 28, rollDeg: 16 } as const;
/** Weights of the asleep state (the rest are 0). */
export const ASLEEP_WEIGHTS: Readonly<Record<string, number>> = {
  eyeBlinkLeft: 1, eyeBlinkRight: 1, jawOpen: 0.12, browInnerUp: 0.15,
};
/** Time to ease into or out of the asleep pose, ms. */
export const ASLEEP_EASE_MS = 700;
/** Opacity of a ghost's materials. */
export const GHOST_OPACITY = 0.35;

/** One drawn frame of an avatar. `weights`: ARKit/MediaPipe name -> 0..1 for the 51 wire
 * shapes; pose in degrees as on the wire (the stage mirrors it); `asleep` 0..1 (the Zzz
 * shows above 0.5); `frozen` while `no_face`; `hasFace` once a face frame was shown. */
export interface AvatarOutput {
  readonly weights: Readonly<Record<string, number>>;
  readonly yawDeg: number;
  readonly pitchDeg: number;
  readonly rollDeg: number;
  readonly asleep: number;
  readonly frozen: boolean;
  readonly ghost: boolean;
  readonly hasFace: boolean;
}

const ASLEEP_VECTOR = (() => {
  const v = new Float32Array(SHAPE_COUNT);
  for (const [name, w] of Object.entries(ASLEEP_WEIGHTS)) v[SHAPE_INDEX.get(name)!] = w;
  return v;
})();

function smooth(t: number): number {
  const x = t < 0 ? 0 : t > 1 ? 1 : t;
  return x * x * (3 - 2 * x);
}

/** Frames and attention of one member -> what its avatar shows at a local time. */
export class AvatarDriver {
  readonly buffer: SnapshotBuffer;
  private live: Float32Array = new Float32Array(SHAPE_COUNT); // last face shown, wire order
  private pose = { yawDeg: 0, pitchDeg: 0, rollDeg: 0 };
  private hasFace = false;
  private asleepLevel = 0; // 0..1 linear progress; eased when used
  private lastUpdateMs: number | null = null;
  private last: AvatarOutput | null = null;

  constructor(public member: AvatarMember, options: InterpOptions = {}) {
    this.buffer = new SnapshotBuffer(options);
  }

  /** Take a received frame (local arrival time `nowMs`). */
  push(frame: Frame, nowMs: number): void {
    this.buffer.push(frame, nowMs);
  }

  /** What to show at local `nowMs`. Calls at the same time return the same output. */
  update(nowMs: number): AvatarOutput {
    if (this.last !== null && this.lastUpdateMs === nowMs) return this.last;
    const dt = this.lastUpdateMs === null ? Number.POSITIVE_INFINITY
      : Math.max(0, nowMs - this.lastUpdateMs);
    this.lastUpdateMs = nowMs;
    const attention = this.member.attention;
    const frozen = attention === "no_face";
    if (!frozen) {
      const s = this.buffer.sample(nowMs);
      if (s !== null && s.face && s.shapes) {
        this.live = s.weights;
        this.hasFace = true;
      }
      if (s !== null && s.face && s.pose) {
        this.pose = { yawDeg: s.yawDeg, pitchDeg: s.pitchDeg, rollDeg: s.rollDeg };
      }
    }
    const target = attention === "distracted" ? 1 : 0;
    const step = dt / ASLEEP_EASE_MS;
    this.asleepLevel = target > this.asleepLevel
      ? Math.min(target, this.asleepLevel + step) : Math.max(target, this.asleepLevel - step);
    const b = smooth(this.asleepLevel);
    const weights: Record<string, number> = {};
    for (let i = 0; i < SHAPE_COUNT; i++) {
      weights[BLENDSHAPE_NAMES[i]!] = this.live[i]! * (1 - b) + ASLEEP_VECTOR[i]! * b;
    }
    this.last = {
      weights,
      yawDeg: this.pose.yawDeg * (1 - b) + ASLEEP_POSE.yawDeg * b,
      pitchDeg: this.pose.pitchDeg * (1 - b) + ASLEEP_POSE.pitchDeg * b,
      rollDeg: this.pose.rollDeg * (1 - b) + ASLEEP_POSE.rollDeg * b,
      asleep: b, frozen, ghost: this.member.kind === "ghost", hasFace: this.hasFace,
    };
    return this.last;
  }
}

/** A cell of the avatar grid: column and row from the top left, in cells. */
export interface GridCell {
  readonly slot: number;
  readonly col: number;
  readonly row: number;
}

/** Lay members out by slot on a grid as square as the count allows, at most `maxCols`
 * wide: columns = min(ceil(sqrt(n)), maxCols), filled row by row. */
export function gridLayout(slots: readonly number[], maxCols = 4): {
  cells: GridCell[]; cols: number; rows: number;
} {
  const sorted = [...new Set(slots)].sort((a, b) => a - b);
  const n = sorted.length;
  const cols = n === 0 ? 0 : Math.min(Math.ceil(Math.sqrt(n)), maxCols);
  const rows = cols === 0 ? 0 : Math.ceil(n / cols);
  return {
    cols, rows,
    cells: sorted.map((slot, i) => ({ slot, col: i % cols, row: Math.floor(i / cols) })),
  };
}

/** The label under an avatar: its name, marked when it is a ghost. */
export function labelText(member: AvatarMember): string {
  return member.kind === "ghost" ? `${member.displayName} (ghost)` : member.displayName;
}

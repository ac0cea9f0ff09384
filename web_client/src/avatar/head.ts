/**
 * The built-in stylised head: procedural geometry (no model file) with morph targets named
 * by ARKit / MediaPipe blend shapes. Every part (skin, eyes, irises, lids, brows, lips,
 * mouth, nose, ears, hair) is built into ONE BufferGeometry with vertex colours, so one
 * mesh carries all targets; each target is a vertex offset (morphTargetsRelative): lids
 * close for eyeBlink*, irises and pupils turn about the eye centre for eyeLook*, the jaw
 * and lower lip drop for jawOpen, mouth corners rise for mouthSmile*, and so on.
 *
 * Units: the head is about 2.1 tall, centred at the origin, facing +z. The subject's left
 * is +x (the avatar faces the viewer); the stage mirrors the whole avatar like a webcam.
 * Only the geometry imports three; the shape rules are plain functions below.
 */

import {
  BufferAttribute, BufferGeometry, Float32BufferAttribute, Uint32BufferAttribute,
} from "three";

type Vec3 = [number, number, number];
type Offset = (p: Vec3) => Vec3;

/** Head ellipsoid radii (x, y, z). */
const RX = 0.9;
const RY = 1.05;
const RZ = 0.95;
/** Eye centre height, distance from the midline, eyeball radius. */
const EYE_Y = 0.16;
const EYE_X = 0.31;
const EYE_R = 0.15;
/** Mouth centre height, half width, half height of the closed opening. */
const MOUTH_Y = -0.43;
const MOUTH_W = 0.21;
const MOUTH_H = 0.028;
const JAW_DROP = 0.24;
const DEG = Math.PI / 180;

const COLORS = {
  skin: [0.96, 0.78, 0.66], skinShade: [0.9, 0.68, 0.56], eyeWhite: [0.97, 0.97, 0.97],
  iris: [0.25, 0.45, 0.7], pupil: [0.04, 0.04, 0.06], brow: [0.3, 0.2, 0.14],
  lips: [0.78, 0.36, 0.38], mouth: [0.28, 0.06, 0.1], hair: [0.32, 0.21, 0.14],
} as const satisfies Record<string, Vec3 | readonly number[]>;

/** z of the head's front surface at (x, y); 0 outside it. */
export function surfaceZ(x: number, y: number): number {
  const q = 1 - (x / RX) ** 2 - (y / RY) ** 2;
  return q > 0 ? RZ * Math.sqrt(q) : 0;
}

function smoothstep(e0: number, e1: number, x: number): number {
  const t = Math.min(1, Math.max(0, (x - e0) / (e1 - e0)));
  return t * t * (3 - 2 * t);
}

/** How far the jaw carries a point at (x, y, z) down when open: 0 above the mouth, 1 at
 * the chin, less towards the back of the head. */
function jawShare(p: Vec3): number {
  return smoothstep(MOUTH_Y + 0.02, MOUTH_Y - 0.08, p[1]) * smoothstep(-0.4, 0.4, p[2]);
}

const jawOpen: Offset = (p) => {
  const s = jawShare(p);
  return [0, -JAW_DROP * s, -0.05 * s];
};

function rotateAbout(p: Vec3, c: Vec3, yaw: number, pitch: number): Vec3 {
  // Ry(yaw) then Rx(pitch) about c; pitch > 0 turns +z towards -y (down)
  const x = p[0] - c[0];
  const y = p[1] - c[1];
  const z = p[2] - c[2];
  const x1 = x * Math.cos(yaw) + z * Math.sin(yaw);
  const z1 = -x * Math.sin(yaw) + z * Math.cos(yaw);
  const y2 = y * Math.cos(pitch) - z1 * Math.sin(pitch);
  const z2 = y * Math.sin(pitch) + z1 * Math.cos(pitch);
  return [c[0] + x1, c[1] + y2, c[2] + z2];
}

const sub = (a: Vec3, b: Vec3): Vec3 => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];

/** Geometry under construction: positions, colours, triangles, and per-target offsets. */
class Builder {
  readonly pos: number[] = [];
  readonly col: number[] = [];
  readonly idx: number[] = [];
  readonly morphs = new Map<string, number[]>();

  /** A (nu+1) x (nv+1) vertex grid from `at(u, v)` (u, v in 0..1), coloured `color`, with
   * `targets` giving each named target's offset per point. */
  grid(nu: number, nv: number, at: (u: number, v: number) => Vec3,
       color: readonly number[] | ((u: number, v: number) => readonly number[]),
       targets: Record<string, Offset> = {}): void {
    const base = this.pos.length / 3;
    for (let i = 0; i <= nu; i++) {
      for (let j = 0; j <= nv; j++) {
        const p = at(i / nu, j / nv);
        this.pos.push(...p);
        this.col.push(...(typeof color === "function" ? color(i / nu, j / nv) : color));
        for (const [name, off] of Object.entries(targets)) {
          this.target(name, base).push(...off(p));
        }
      }
    }
    for (let i = 0; i < nu; i++) {
      for (let j = 0; j < nv; j++) {
        const a = base + i * (nv + 1) + j;
        const b = a + nv + 1;
        this.idx.push(a, b, a + 1, a + 1, b, b + 1);
      }
    }
  }

  /** The offsets of a target, zero-filled up to vertex `upTo`. */
  private target(name: string, upTo: number): number[] {
    let list = this.morphs.get(name);
    if (list === undefined) {
      list = [];
      this.morphs.set(name, list);
    }
    while (list.length < upTo * 3) list.push(0);
    return list;
  }

  build(): BufferGeometry {
    const geometry = new BufferGeometry();
    geometry.setAttribute("position", new Float32BufferAttribute(this.pos, 3));
    geometry.setAttribute("color", new Float32BufferAttribute(this.col, 3));
    geometry.setIndex(new Uint32BufferAttribute(this.idx, 1));
    const n = this.pos.length;
    const morph: BufferAttribute[] = [];
    for (const [name, list] of [...this.morphs].sort(([a], [b]) => a.localeCompare(b))) {
      while (list.length < n) list.push(0);
      const attr = new Float32BufferAttribute(list, 3);
      attr.name = name;
      morph.push(attr);
    }
    geometry.morphAttributes.position = morph;
    geometry.morphTargetsRelative = true;
    geometry.computeVertexNormals();
    geometry.computeBoundingSphere();
    return geometry;
  }
}

function skin(b: Builder): void {
  const at = (u: number, v: number): Vec3 => {
    const th = u * Math.PI;
    const ph = v * 2 * Math.PI;
    return [RX * Math.sin(th) * Math.sin(ph), RY * Math.cos(th), RZ * Math.sin(th) * Math.cos(ph)];
  };
  const jawSide = (dir: number): Offset => (p) => [0.06 * dir * jawShare(p), 0, 0];
  const cheek = (side: number): Offset => (p) => {
    const d = Math.hypot(p[0] - side * 0.5, p[1] + 0.25) / 0.3;
    const s = Math.max(0, 1 - d * d) * smoothstep(0, 0.5, p[2]);
    return [side * 0.08 * s, 0, 0.05 * s];
  };
  b.grid(40, 64, at, COLORS.skin, {
    jawOpen, jawLeft: jawSide(1), jawRight: jawSide(-1),
    cheekPuff: (p) => {
      const [l, r] = [cheek(1)(p), cheek(-1)(p)];
      return [l[0] + r[0], l[1] + r[1], l[2] + r[2]];
    },
  });
  // ears
  for (const side of [1, -1]) {
    b.grid(8, 12, (u, v) => {
      const th = u * Math.PI;
      const ph = v * 2 * Math.PI;
      return [side * (RX - 0.02) + 0.07 * Math.sin(th) * Math.sin(ph) * side, 0.05
        + 0.17 * Math.cos(th), -0.05 + 0.1 * Math.sin(th) * Math.cos(ph)];
    }, COLORS.skinShade);
  }
  // nose
  const noseY = -0.1;
  const noseZ = surfaceZ(0, noseY) - 0.03;
  b.grid(10, 16, (u, v) => {
    const th = u * Math.PI;
    const ph = v * 2 * Math.PI;
    return [0.08 * Math.sin(th) * Math.sin(ph), noseY + 0.11 * Math.cos(th),
      noseZ + 0.1 * Math.sin(th) * Math.cos(ph)];
  }, COLORS.skinShade, {
    noseSneerLeft: (p) => [0.01, 0.02 * Math.max(0, p[0]) / 0.08, 0],
    noseSneerRight: (p) => [-0.01, 0.02 * Math.max(0, -p[0]) / 0.08, 0],
  });
  // hair: a cap, lower at the back
  b.grid(16, 48, (u, v) => {
    const ph = v * 2 * Math.PI;
    const thMax = (0.3 + 0.27 * (1 - Math.cos(ph)) / 2) * Math.PI;
    const th = u * thMax;
    const k = 1.045;
    return [k * RX * Math.sin(th) * Math.sin(ph), k * RY * Math.cos(th) + 0.02,
      k * RZ * Math.sin(th) * Math.cos(ph)];
  }, COLORS.hair);
}

/** One eye: `side` +1 = the subject's left (+x). */
function eye(b: Builder, side: 1 | -1): void {
  const s = side === 1 ? "Left" : "Right";
  const c: Vec3 = [side * EYE_X, EYE_Y, surfaceZ(EYE_X, EYE_Y) - 0.065];
  const onSphere = (r: number, polar: number, azimuth: number): Vec3 =>
    // polar from straight up (+y), azimuth about y from the front (+z)
    [c[0] + r * Math.sin(polar) * Math.sin(azimuth), c[1] + r * Math.cos(polar),
      c[2] + r * Math.sin(polar) * Math.cos(azimuth)];
  b.grid(16, 24, (u, v) => onSphere(EYE_R, u * Math.PI, v * 2 * Math.PI), COLORS.eyeWhite);

  // iris and pupil: discs on the front of the eyeball, turned for the gaze
  const gaze = (yawDeg: number, pitchDeg: number): Offset =>
    (p) => sub(rotateAbout(p, c, yawDeg * DEG, pitchDeg * DEG), p);
  const outward = side * 32;
  const look: Record<string, Offset> = {
    [`eyeLookOut${s}`]: gaze(outward, 0), [`eyeLookIn${s}`]: gaze(-outward, 0),
    [`eyeLookUp${s}`]: gaze(0, -26), [`eyeLookDown${s}`]: gaze(0, 26),
  };
  const disc = (r: number, angle: number) => (u: number, v: number): Vec3 => {
    const a = u * angle;
    const w = v * 2 * Math.PI;
    return [c[0] + r * Math.sin(a) * Math.cos(w), c[1] + r * Math.sin(a) * Math.sin(w),
      c[2] + r * Math.cos(a)];
  };
  b.grid(4, 24, disc(EYE_R + 0.009, 0.43), COLORS.iris, look);
  b.grid(2, 16, disc(EYE_R + 0.013, 0.19), COLORS.pupil, look);

  // lids: shells slightly larger than the eyeball; blink brings both edges to 100 degrees
  // from the top (the pupil is at 90), wide lifts the upper one, squint raises the lower
  const lidR = EYE_R * 1.16;
  // skin, darkening to a lash line at the lid's edge (u = 1 upper, u = 0 lower)
  const lidColor = (edge: (u: number) => number) => (u: number): readonly number[] => {
    const k = edge(u) > 0.8 ? 0.35 : 1;
    return COLORS.skinShade.map((x) => x * k);
  };
  const az = (v: number): number => (v - 0.5) * 230 * DEG;
  const upper = (edgeDeg: number) => (u: number, v: number): Vec3 =>
    onSphere(lidR, u * edgeDeg * DEG, az(v));
  const upperTo = (edgeDeg: number): Offset => {
    // offsets are computed from the grid point's u, recovered from its polar angle
    return (p) => {
      const d = sub(p, c);
      const polar = Math.acos(Math.max(-1, Math.min(1, d[1] / lidR)));
      const azimuth = Math.atan2(d[0], d[2]);
      const u = polar / (UPPER_OPEN * DEG);
      return sub(onSphere(lidR, u * edgeDeg * DEG, azimuth), p);
    };
  };
  b.grid(10, 24, upper(UPPER_OPEN), lidColor((u) => u), {
    [`eyeBlink${s}`]: upperTo(100), [`eyeWide${s}`]: upperTo(40),
    [`eyeSquint${s}`]: upperTo(70),
  });
  const lower = (u: number, v: number): Vec3 =>
    onSphere(lidR, (LOWER_OPEN + u * (180 - LOWER_OPEN)) * DEG, az(v));
  const lowerTo = (edgeDeg: number): Offset => (p) => {
    const d = sub(p, c);
    const polar = Math.acos(Math.max(-1, Math.min(1, d[1] / lidR))) / DEG;
    const u = (polar - LOWER_OPEN) / (180 - LOWER_OPEN);
    const azimuth = Math.atan2(d[0], d[2]);
    return sub(onSphere(lidR, (edgeDeg + u * (180 - edgeDeg)) * DEG, azimuth), p);
  };
  b.grid(6, 24, lower, lidColor((u) => 1 - u - 0.1), {
    [`eyeBlink${s}`]: lowerTo(100), [`eyeSquint${s}`]: lowerTo(112),
    [`cheekSquint${s}`]: lowerTo(116),
  });
}

/** Polar angle of the open upper lid's edge and the open lower lid's edge, degrees from
 * the top of the eye (the pupil looks out at 90). */
const UPPER_OPEN = 62;
const LOWER_OPEN = 124;

function brow(b: Builder, side: 1 | -1): void {
  const s = side === 1 ? "Left" : "Right";
  const inner = 0.1;
  const outer = 0.52;
  const baseY = 0.44;
  // t: 0 at the inner end, 1 at the outer end (recovered from x in the offsets)
  const tOf = (p: Vec3): number => (Math.abs(p[0]) - inner) / (outer - inner);
  b.grid(2, 16, (u, v) => {
    const x = side * (inner + v * (outer - inner));
    const y = baseY + 0.05 * Math.sin(Math.PI * (0.2 + 0.8 * v)) + (u - 0.5) * 0.055
      - 0.02 * v;
    return [x, y, surfaceZ(x, y) + 0.02];
  }, COLORS.brow, {
    [`browDown${s}`]: (p) => [-side * 0.025 * (1 - tOf(p)), -0.075, 0.01],
    [`browOuterUp${s}`]: (p) => [0, 0.1 * tOf(p) ** 1.3, 0],
    browInnerUp: (p) => [0, 0.1 * (1 - tOf(p)) ** 1.3, 0],
  });
}

/** Offsets of a point of the mouth (lips or opening), by its place on the mouth ellipse:
 * `a` angle (0 = the subject's left corner), relative to MOUTH_Y. */
function mouthTargets(): Record<string, Offset> {
  const angle = (p: Vec3): { c: number; s: number } => {
    const dx = p[0] / (MOUTH_W + 0.03);
    const dy = (p[1] - MOUTH_Y) / (MOUTH_H + 0.05);
    const r = Math.hypot(dx, dy) || 1;
    return { c: dx / r, s: dy / r };
  };
  const corner = (side: number) => (p: Vec3): number => Math.max(0, side * angle(p).c) ** 2;
  return {
    jawOpen: (p) => {
      const low = Math.max(0, -angle(p).s);
      return [0, -JAW_DROP * 0.92 * low, -0.04 * low];
    },
    mouthSmileLeft: (p) => [0.04 * corner(1)(p), 0.09 * corner(1)(p), -0.03 * corner(1)(p)],
    mouthSmileRight: (p) => [-0.04 * corner(-1)(p), 0.09 * corner(-1)(p), -0.03 * corner(-1)(p)],
    mouthFrownLeft: (p) => [0.01 * corner(1)(p), -0.08 * corner(1)(p), 0],
    mouthFrownRight: (p) => [-0.01 * corner(-1)(p), -0.08 * corner(-1)(p), 0],
    mouthStretchLeft: (p) => [0.06 * corner(1)(p), -0.02 * corner(1)(p), 0],
    mouthStretchRight: (p) => [-0.06 * corner(-1)(p), -0.02 * corner(-1)(p), 0],
    mouthDimpleLeft: (p) => [0.03 * corner(1)(p), 0, -0.02 * corner(1)(p)],
    mouthDimpleRight: (p) => [-0.03 * corner(-1)(p), 0, -0.02 * corner(-1)(p)],
    mouthPucker: (p) => [-0.5 * p[0], 0, 0.08],
    mouthFunnel: (p) => [-0.3 * p[0], 0.9 * (p[1] - MOUTH_Y), 0.07],
    mouthLeft: () => [0.07, 0, 0],
    mouthRight: () => [-0.07, 0, 0],
    mouthRollLower: (p) => [0, 0.4 * Math.min(0, p[1] - MOUTH_Y), -0.02],
    mouthRollUpper: (p) => [0, -0.4 * Math.max(0, p[1] - MOUTH_Y), -0.02],
    mouthShrugUpper: (p) => [0, 0.03 * Math.max(0, angle(p).s), 0.01],
    mouthShrugLower: (p) => [0, 0.04 * Math.max(0, -angle(p).s), 0.02],
    mouthUpperUpLeft: (p) => [0, 0.04 * Math.max(0, angle(p).s) * (p[0] > 0 ? 1 : 0.3), 0],
    mouthUpperUpRight: (p) => [0, 0.04 * Math.max(0, angle(p).s) * (p[0] < 0 ? 1 : 0.3), 0],
    mouthLowerDownLeft: (p) => [0, -0.05 * Math.max(0, -angle(p).s) * (p[0] > 0 ? 1 : 0.3), 0],
    mouthLowerDownRight: (p) => [0, -0.05 * Math.max(0, -angle(p).s) * (p[0] < 0 ? 1 : 0.3), 0],
    mouthPressLeft: (p) => [0, -0.3 * (p[1] - MOUTH_Y) * corner(1)(p), 0],
    mouthPressRight: (p) => [0, -0.3 * (p[1] - MOUTH_Y) * corner(-1)(p), 0],
    // with jawOpen: brings the lower lip back up (ARKit's lips-closed, jaw-open pose)
    mouthClose: (p) => {
      const low = Math.max(0, -angle(p).s);
      return [0, JAW_DROP * 0.8 * low, 0.03 * low];
    },
    jawLeft: (p) => [0.06 * Math.max(0, -angle(p).s), 0, 0],
    jawRight: (p) => [-0.06 * Math.max(0, -angle(p).s), 0, 0],
    jawForward: (p) => [0, 0, 0.05 * Math.max(0, -angle(p).s)],
  };
}

function mouth(b: Builder): void {
  const targets = mouthTargets();
  const ellipse = (w: number, h: number, a: number): [number, number] =>
    [w * Math.cos(a), MOUTH_Y + h * Math.sin(a)];
  // the opening: a filled ellipse just in front of the skin
  b.grid(4, 40, (u, v) => {
    const [x, y] = ellipse(MOUTH_W * u, MOUTH_H * u, v * 2 * Math.PI);
    return [x, y, surfaceZ(x, y) + 0.012];
  }, COLORS.mouth, targets);
  // the lips: a ring from the opening's edge outwards, fuller at the middle
  b.grid(3, 48, (u, v) => {
    const a = v * 2 * Math.PI;
    const full = 0.03 + 0.025 * Math.abs(Math.sin(a));
    const [x, y] = ellipse(MOUTH_W + u * 0.03, MOUTH_H + u * full, a);
    return [x, y, surfaceZ(x, y) + 0.02 + 0.012 * Math.sin(u * Math.PI)];
  }, COLORS.lips, targets);
}

/** The head's morph targets that must exist (the tests check each moves the mesh). */
export const HEAD_REQUIRED_TARGETS: readonly string[] = [
  "eyeBlinkLeft", "eyeBlinkRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft",
  "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeLookDownLeft", "eyeLookDownRight",
  "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
  "jawOpen", "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
  "mouthPucker",
];

/** Build the head geometry (shared by every avatar on a stage; dispose it with the stage).
 * Its `morphAttributes.position[i].name` are ARKit names. */
export function buildHeadGeometry(): BufferGeometry {
  const b = new Builder();
  skin(b);
  eye(b, 1);
  eye(b, -1);
  brow(b, 1);
  brow(b, -1);
  mouth(b);
  return b.build();
}

/**
 * What an avatar shows (src/avatar/driver.ts), without WebGL: frame scores -> ARKit-named
 * weights, head pose, the asleep pose for `distracted`, freezing for `no_face`, ghosts, and
 * the grid layout.
 */

import { describe, expect, it } from "vitest";
import { BLENDSHAPE_NAMES } from "../src/blendshapes";
import { decodeFrame, encodeFrame, encodeNoFaceFrame, type Frame } from "../src/frame";
import {
  ASLEEP_EASE_MS, ASLEEP_POSE, AvatarDriver, gridLayout, labelText, type AvatarMember,
} from "../src/avatar/driver";
import { INTERP_DELAY_MS } from "../src/avatar/interp";

const member = (attention = "focused", kind: "live" | "ghost" = "live"): AvatarMember =>
  ({ slot: 2, kind, displayName: "Ada", attention });

/** A frame whose score i is (i + k) % 52 / 51 and pose (yaw, pitch, roll) = (10, -5, 3) k. */
function frame(seq: number, captureMs: number, k = 0): Frame {
  const scores = BLENDSHAPE_NAMES.map((_, i) => ((i + k) % 52) / 51);
  return decodeFrame(encodeFrame({
    seq, captureMs, scores, yawDeg: 10 * k, pitchDeg: -5 * k, rollDeg: 3 * k,
  }));
}

describe("AvatarDriver", () => {
  it("maps the 51 wire bytes (/255) onto ARKit names, in wire order", () => {
    const d = new AvatarDriver(member());
    const f = frame(0, 0, 1);
    d.push(f, 1000);
    const out = d.update(1000);
    expect(Object.keys(out.weights)).toEqual([...BLENDSHAPE_NAMES]);
    BLENDSHAPE_NAMES.forEach((name, i) => {
      expect(out.weights[name]).toBeCloseTo(f.shapes[i]! / 255, 6);
    });
    expect(out.weights.browDownLeft).toBeCloseTo(1 / 51, 2);
    expect(out.weights.eyeBlinkLeft).toBeCloseTo(9 / 51, 2);
    expect([out.yawDeg, out.pitchDeg, out.rollDeg]).toEqual([10, -5, 3]);
    expect(out.hasFace).toBe(true);
    expect(out.asleep).toBe(0);
  });

  it("is neutral before any frame", () => {
    const out = new AvatarDriver(member()).update(0);
    expect(Object.values(out.weights).every((w) => w === 0)).toBe(true);
    expect(out.hasFace).toBe(false);
  });

  it("interpolates between frames behind now", () => {
    const d = new AvatarDriver(member());
    d.push(frame(0, 0, 0), 1000);
    d.push(frame(1, 100, 2), 1100);
    const out = d.update(1050 + INTERP_DELAY_MS);
    expect(out.yawDeg).toBeCloseTo(10, 6);
    expect(out.weights.browDownLeft).toBeCloseTo(((0 / 51) + (2 / 51)) / 2, 2);
  });

  it("keeps the last face through no-face frames", () => {
    const d = new AvatarDriver(member());
    d.push(frame(0, 0, 4), 0);
    d.update(50);
    d.push(decodeFrame(encodeNoFaceFrame(1, 500)), 500);
    const out = d.update(2000);
    expect(out.yawDeg).toBe(40);
    expect(out.weights.browDownLeft).toBeCloseTo(4 / 51, 2);
  });

  it("eases into the asleep pose while distracted, and back out", () => {
    const d = new AvatarDriver(member());
    d.push(frame(0, 0, 0), 0);
    d.update(0);
    d.member = member("distracted");
    const mid = d.update(ASLEEP_EASE_MS / 2);
    expect(mid.asleep).toBeCloseTo(0.5, 6);
    const asleep = d.update(ASLEEP_EASE_MS + 10);
    expect(asleep.asleep).toBe(1);
    expect(asleep.weights.eyeBlinkLeft).toBe(1);
    expect(asleep.weights.eyeBlinkRight).toBe(1);
    expect(asleep.weights.mouthSmileLeft).toBe(0);
    expect([asleep.yawDeg, asleep.pitchDeg, asleep.rollDeg])
      .toEqual([ASLEEP_POSE.yawDeg, ASLEEP_POSE.pitchDeg, ASLEEP_POSE.rollDeg]);
    expect(asleep.pitchDeg).toBeGreaterThan(10); // head down
    d.member = member("focused");
    const awake = d.update(2 * ASLEEP_EASE_MS + 20);
    expect(awake.asleep).toBe(0);
    expect(awake.weights.eyeBlinkLeft).toBeCloseTo(8 / 51, 2);
  });

  it("freezes while no_face: frames are buffered but not shown", () => {
    const d = new AvatarDriver(member());
    d.push(frame(0, 0, 1), 0);
    d.update(0);
    d.member = member("no_face");
    d.push(frame(1, 100, 5), 100);
    d.push(frame(2, 200, 6), 200);
    const frozen = d.update(1000);
    expect(frozen.frozen).toBe(true);
    expect(frozen.yawDeg).toBe(10);
    d.member = member("focused");
    expect(d.update(1001).yawDeg).toBe(60);
  });

  it("marks ghosts", () => {
    expect(new AvatarDriver(member("focused", "ghost")).update(0).ghost).toBe(true);
    expect(labelText(member("focused", "ghost"))).toBe("Ada (ghost)");
    expect(labelText(member())).toBe("Ada");
  });
});

describe("gridLayout", () => {
  it("orders by slot, as square as possible", () => {
    expect(gridLayout([])).toEqual({ cells: [], cols: 0, rows: 0 });
    expect(gridLayout([3])).toEqual({ cells: [{ slot: 3, col: 0, row: 0 }], cols: 1, rows: 1 });
    const five = gridLayout([4, 0, 2, 1, 3]);
    expect([five.cols, five.rows]).toEqual([3, 2]);
    expect(five.cells.map((c) => [c.slot, c.col, c.row]))
      .toEqual([[0, 0, 0], [1, 1, 0], [2, 2, 0], [3, 0, 1], [4, 1, 1]]);
    const many = gridLayout([...Array(30).keys()]);
    expect([many.cols, many.rows]).toEqual([4, 8]);
  });
});

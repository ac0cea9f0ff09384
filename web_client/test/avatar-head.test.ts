/**
 * The built-in head (src/avatar/head.ts) without WebGL: its morph targets carry ARKit
 * names, each required one visibly moves vertices, and the moves go the right way
 * (lids down, jaw down, smile corners up, gaze sideways).
 */

import { describe, expect, it } from "vitest";
import type { BufferAttribute } from "three";
import { BLENDSHAPE_NAMES } from "../src/blendshapes";
import { buildHeadGeometry, HEAD_REQUIRED_TARGETS } from "../src/avatar/head";
import { normalizeShapeName } from "../src/avatar/names";

const geometry = buildHeadGeometry();
const position = geometry.getAttribute("position") as BufferAttribute;
const targets = new Map((geometry.morphAttributes.position as BufferAttribute[])
  .map((a) => [a.name, a] as const));

/** Largest offset of a target, and the summed offset of the vertices it moves. */
function moves(name: string): { max: number; sum: [number, number, number]; moved: number } {
  const t = targets.get(name)!;
  let max = 0;
  let moved = 0;
  const sum: [number, number, number] = [0, 0, 0];
  for (let i = 0; i < t.count; i++) {
    const d = [t.getX(i), t.getY(i), t.getZ(i)] as const;
    const len = Math.hypot(...d);
    max = Math.max(max, len);
    if (len > 1e-4) {
      moved++;
      sum[0] += d[0]; sum[1] += d[1]; sum[2] += d[2];
    }
  }
  return { max, sum, moved };
}

describe("built-in head", () => {
  it("has every required target, all ARKit names, and offsets for every vertex", () => {
    for (const name of HEAD_REQUIRED_TARGETS) expect(targets.has(name), name).toBe(true);
    for (const [name, attr] of targets) {
      expect(BLENDSHAPE_NAMES).toContain(name);
      expect(normalizeShapeName(name)).toBe(name);
      expect(attr.count).toBe(position.count);
    }
    expect(geometry.morphTargetsRelative).toBe(true);
    expect(targets.size).toBeGreaterThanOrEqual(40);
  });

  it.each(HEAD_REQUIRED_TARGETS)("%s moves the mesh visibly", (name) => {
    const m = moves(name);
    expect(m.max).toBeGreaterThan(0.03); // > 1.4 % of the head's height
    expect(m.moved).toBeGreaterThan(20);
  });

  it("moves in the right directions", () => {
    expect(moves("eyeBlinkLeft").sum[1]).not.toBe(0);
    // the upper lid comes down more than the lower goes up: net down
    expect(moves("eyeBlinkLeft").sum[1]).toBeLessThan(0);
    expect(moves("jawOpen").sum[1]).toBeLessThan(0);
    expect(moves("mouthSmileLeft").sum[1]).toBeGreaterThan(0);
    expect(moves("mouthSmileLeft").sum[0]).toBeGreaterThan(0); // the subject's left is +x
    expect(moves("mouthSmileRight").sum[0]).toBeLessThan(0);
    expect(moves("mouthFrownRight").sum[1]).toBeLessThan(0);
    expect(moves("eyeLookOutLeft").sum[0]).toBeGreaterThan(0);
    expect(moves("eyeLookInLeft").sum[0]).toBeLessThan(0);
    expect(moves("eyeLookOutRight").sum[0]).toBeLessThan(0);
    expect(moves("eyeLookUpRight").sum[1]).toBeGreaterThan(0);
    expect(moves("eyeLookDownLeft").sum[1]).toBeLessThan(0);
    expect(moves("browInnerUp").sum[1]).toBeGreaterThan(0);
    expect(moves("browDownLeft").sum[1]).toBeLessThan(0);
    expect(moves("browOuterUpRight").sum[1]).toBeGreaterThan(0);
    expect(moves("mouthPucker").sum[2]).toBeGreaterThan(0);
  });

  it("left targets move only the subject's left (+x) side", () => {
    for (const name of ["eyeBlinkLeft", "browDownLeft", "eyeLookOutLeft", "mouthSmileLeft"]) {
      const t = targets.get(name)!;
      for (let i = 0; i < t.count; i++) {
        if (Math.hypot(t.getX(i), t.getY(i), t.getZ(i)) > 1e-3) {
          expect(position.getX(i), name).toBeGreaterThan(-0.02);
        }
      }
    }
  });
});

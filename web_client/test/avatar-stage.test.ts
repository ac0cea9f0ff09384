/**
 * AvatarStage without WebGL (Vitest runs in Node): it must say so in the container instead
 * of throwing, and still map frames to weights per slot (morphWeights, the e2e tests' hook).
 */

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { BLENDSHAPE_NAMES } from "../src/blendshapes";
import { decodeFrame, encodeFrame, encodeNoFaceFrame } from "../src/frame";
import { AvatarStage, type AvatarMember } from "../src/avatar/stage";

/** Just enough DOM for the stage's no-WebGL path: elements without a WebGL context. */
class FakeElement {
  children: FakeElement[] = [];
  textContent: string | null = "";
  className = "";
  attributes: Record<string, string> = {};
  clientWidth = 800;
  clientHeight = 0;
  style: Record<string, string> = {};
  append(...els: FakeElement[]): void { this.children.push(...els); }
  setAttribute(k: string, v: string): void { this.attributes[k] = v; }
  remove(): void { /* detached */ }
  getContext(): null { return null; }
  addEventListener(): void { /* none */ }
}

const members: AvatarMember[] = [
  { slot: 0, kind: "live", displayName: "Ada", attention: "focused" },
  { slot: 4, kind: "ghost", displayName: "Bo", attention: "distracted" },
];

function frame(seq: number, captureMs: number, shape: string, score: number) {
  const scores = BLENDSHAPE_NAMES.map((n) => (n === shape ? score : 0));
  return decodeFrame(encodeFrame({ seq, captureMs, scores, yawDeg: 12 }));
}

describe("AvatarStage without WebGL", () => {
  let container: FakeElement;
  let now = 1000;

  beforeEach(() => {
    vi.stubGlobal("document", {
      createElement: () => new FakeElement(),
      createElementNS: () => new FakeElement(),
    });
    vi.spyOn(performance, "now").mockImplementation(() => now);
    container = new FakeElement();
  });

  afterEach(() => {
    vi.unstubAllGlobals();
    vi.restoreAllMocks();
  });

  it("shows a clear message instead of a canvas", () => {
    const stage = new AvatarStage(container as unknown as HTMLElement);
    expect(stage.error).toMatch(/WebGL/);
    expect(container.children).toHaveLength(1);
    expect(container.children[0]!.className).toBe("avatar-stage-error");
    expect(container.children[0]!.textContent).toMatch(/3D avatars are unavailable/);
    stage.start(); // no-ops
    stage.stop();
    stage.dispose();
  });

  it("maps each slot's frames to ARKit-named weights, by slot", () => {
    const stage = new AvatarStage(container as unknown as HTMLElement);
    expect(stage.morphWeights(0)).toBeNull();
    stage.pushFrame(0, frame(0, 50, "jawOpen", 0.2), 1);
    stage.setMembers(members); // the frame that came before setMembers is kept
    expect(stage.morphWeights(0)!.jawOpen).toBeCloseTo(51 / 255, 6);
    expect(stage.morphWeights(4)!.eyeBlinkLeft).toBe(1); // shown distracted: asleep at once
    expect(stage.morphWeights(3)).toBeNull();
    now = 1100;
    stage.pushFrame(0, frame(1, 150, "mouthSmileLeft", 1), 2);
    now = 1050 + 100; // 100 ms behind: halfway between the frames (local 1000 and 1100)
    const w = stage.morphWeights(0)!;
    expect(w.jawOpen).toBeCloseTo(0.1, 2);
    expect(w.mouthSmileLeft).toBeCloseTo(0.5, 2);
    expect(Object.keys(w)).toHaveLength(51);
    expect(stage.avatarState(0)!.yawDeg).toBeCloseTo(12, 6);
    now = 5000;
    expect(stage.avatarState(4)).toMatchObject({ ghost: true, asleep: 1, label: "Bo (ghost)" });
    expect(stage.morphWeights(4)!.eyeBlinkRight).toBe(1);
    stage.dispose();
  });

  it("freezes a no_face member and drops members that left", () => {
    const stage = new AvatarStage(container as unknown as HTMLElement);
    stage.setMembers(members);
    stage.pushFrame(0, frame(0, 0, "jawOpen", 1), 0);
    now = 1200;
    expect(stage.morphWeights(0)!.jawOpen).toBe(1);
    stage.setMembers([{ ...members[0]!, attention: "no_face" }]);
    stage.pushFrame(0, decodeFrame(encodeNoFaceFrame(1, 500)), 0);
    stage.pushFrame(0, frame(2, 1000, "jawOpen", 0), 0);
    now = 3000;
    expect(stage.morphWeights(0)!.jawOpen).toBe(1);
    expect(stage.avatarState(0)!.frozen).toBe(true);
    expect(stage.morphWeights(4)).toBeNull();
    stage.pushFrame(300, frame(0, 0, "jawOpen", 1), 0); // out of range: ignored
    stage.dispose();
  });
});

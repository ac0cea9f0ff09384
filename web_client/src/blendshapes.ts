/**
 * Blend-shape names in wire order (DESIGN.md section 4; avatars/blendshapes.py).
 *
 * MediaPipe Face Landmarker outputs 52 categories: index 0 is `_neutral` (dropped), 1..51
 * are ARKit's names in alphabetical order and become wire indices 0..50. ARKit's 52nd shape,
 * `tongueOut`, has no MediaPipe counterpart and never reaches the wire. `*Left` / `*Right`
 * are the subject's own side. test/frame.test.ts checks this list against the vectors
 * generated from the Python codec.
 */

/** Blend shapes on the wire (MediaPipe categories 1..51). */
export const SHAPE_COUNT = 51;

/** MediaPipe category names 1..51; array index = wire index 0..50. */
export const BLENDSHAPE_NAMES: readonly string[] = Object.freeze([
  "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
  "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight",
  "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft",
  "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight",
  "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen", "jawRight", "mouthClose",
  "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight", "mouthFunnel",
  "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft",
  "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper",
  "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight",
  "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight",
  "noseSneerLeft", "noseSneerRight",
]);

/** MediaPipe's category 0, which the wire drops. */
export const NEUTRAL_NAME = "_neutral";

/** MediaPipe name -> wire index (0..50). */
export const SHAPE_INDEX: ReadonlyMap<string, number> = new Map(
  BLENDSHAPE_NAMES.map((name, i) => [name, i] as const),
);

/** The wire index (0..50) of a MediaPipe blend-shape name, or undefined (`_neutral`,
 * `tongueOut`, unknown names). */
export function wireIndex(name: string): number | undefined {
  return SHAPE_INDEX.get(name);
}

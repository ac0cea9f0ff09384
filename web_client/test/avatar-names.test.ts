/**
 * Morph-target names -> ARKit names (src/avatar/names.ts): every spelling in
 * /work/shared/data/face/blendshape_name_map.json when it is there, and the common glTF
 * variants (case, `_L`/`.R`, prefixes) always.
 */

import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { BLENDSHAPE_NAMES } from "../src/blendshapes";
import { ARKIT_NAMES, bindMorphTargets, normalizeShapeName } from "../src/avatar/names";

const MAP_FILE = path.join(process.env.STUDYVERSE_FACE_DATA
  ?? path.resolve(__dirname, "../../../shared/data/face"), "blendshape_name_map.json");

describe("normalizeShapeName", () => {
  it("accepts every ARKit name as it is, and in any case", () => {
    expect(ARKIT_NAMES.length).toBe(52);
    for (const name of ARKIT_NAMES) {
      expect(normalizeShapeName(name)).toBe(name);
      expect(normalizeShapeName(name.toUpperCase())).toBe(name);
      expect(normalizeShapeName(name.toLowerCase())).toBe(name);
    }
  });

  it.each([
    ["eyeBlink_L", "eyeBlinkLeft"], ["eyeBlink_R", "eyeBlinkRight"],
    ["EYEBLINK_r", "eyeBlinkRight"], ["eyeblink.L", "eyeBlinkLeft"],
    ["eyeLookUp-L", "eyeLookUpLeft"], ["mouthSmile L", "mouthSmileLeft"],
    ["EyeBlinkLeft", "eyeBlinkLeft"], ["mouth_smile_left", "mouthSmileLeft"],
    ["browOuterUp_R", "browOuterUpRight"], ["browInnerUp", "browInnerUp"],
    ["jawOpen", "jawOpen"], ["JAWOPEN", "jawOpen"], ["cheekSquint_L", "cheekSquintLeft"],
    ["blendShape1.eyeBlink_L", "eyeBlinkLeft"], ["blendShape1.jawOpen", "jawOpen"],
    ["Face|mouthPucker", "mouthPucker"], ["head:browDown_R", "browDownRight"],
    ["ARKit_eyeBlink_L", "eyeBlinkLeft"], ["arkit-mouthFrownRight", "mouthFrownRight"],
    ["tongueOut", "tongueOut"], ["TongueOut", "tongueOut"],
  ])("%s -> %s", (raw, arkit) => {
    expect(normalizeShapeName(raw)).toBe(arkit);
  });

  it.each(["_neutral", "", "eyeBlink", "eyeBlink_X", "smile", "Key 1", "Basis", "jawOpenWide",
    "eyeBlinkLeftRight", "mouthSmile_LL"])("refuses %j", (raw) => {
    expect(normalizeShapeName(raw)).toBeNull();
  });

  it.skipIf(!existsSync(MAP_FILE))("maps every spelling of the shared name map", () => {
    const doc = JSON.parse(readFileSync(MAP_FILE, "utf8")) as {
      rows: { arkit_swift_name: string | null; arkit_raw_value: string | null;
        mediapipe_name: string | null; livelink_pascal: string | null }[];
    };
    let checked = 0;
    for (const row of doc.rows) {
      if (row.arkit_swift_name === null) {
        expect(normalizeShapeName(row.mediapipe_name ?? "")).toBeNull(); // _neutral
        continue;
      }
      for (const spelling of [row.arkit_raw_value, row.livelink_pascal, row.mediapipe_name]) {
        if (spelling === null) continue;
        expect(normalizeShapeName(spelling)).toBe(row.arkit_swift_name);
        checked++;
      }
    }
    expect(checked).toBe(51 * 3 + 2);
  });
});

describe("bindMorphTargets", () => {
  it("binds a glTF dictionary by ARKit name, several targets per shape, skipping others", () => {
    const dict = { "eyeBlink_L": 0, "eyeBlink_R": 1, "Basis": 2, "jawOpen": 3,
      "blendShape1.jawOpen": 4, "mouthSmile_L": 5 };
    const binding = bindMorphTargets(dict);
    expect(Object.fromEntries(binding)).toEqual({
      eyeBlinkLeft: [0], eyeBlinkRight: [1], jawOpen: [3, 4], mouthSmileLeft: [5],
    });
  });

  it("binds all 51 wire shapes of a full ARKit rig in raw spelling", () => {
    const dict = Object.fromEntries(BLENDSHAPE_NAMES.map((n, i) =>
      [n.replace(/Left$/, "_L").replace(/Right$/, "_R"), i]));
    const binding = bindMorphTargets(dict);
    expect(binding.size).toBe(51);
    BLENDSHAPE_NAMES.forEach((n, i) => expect(binding.get(n)).toEqual([i]));
  });
});

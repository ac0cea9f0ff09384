/**
 * The TypeScript frame codec against the vectors generated from the Python codec
 * (tests/make_frame_vectors.py -> test/vectors/frames.json): every frame byte for byte,
 * every decode field for field, every refusal refused.
 */

import { describe, expect, it } from "vitest";
import { BLENDSHAPE_NAMES, SHAPE_COUNT, SHAPE_INDEX, wireIndex } from "../src/blendshapes";
import {
  checkFrame, decodeBatch, decodeFrame, encodeBatch, encodeFrame, encodeNoFaceFrame,
  facePresent, FRAME_SIZE, FrameEncodeError, FrameError, frameFromLandmarkerResult,
  poseFromMatrix, poseValid, quantizeScore, score, scoresFromCategories, shapesValid,
  wrapDeltaMs, type Frame, type FrameInput,
} from "../src/frame";
import raw from "./vectors/frames.json";

type Num = number | "NaN" | "Infinity" | "-Infinity";

interface JsonFrameInput {
  seq: number; capture_ms: number; scores: Num[]; yaw_deg: Num; pitch_deg: Num;
  roll_deg: Num; tx_mm: Num; ty_mm: Num; tz_mm: Num; quality: number;
  face_present: boolean; pose_valid: boolean; shapes_valid: boolean;
}

interface Decoded {
  seq: number; capture_ms: number; flags: number; yaw_cdeg: number; pitch_cdeg: number;
  roll_cdeg: number; tx_mm: number; ty_mm: number; tz_mm: number; quality: number;
  shapes: string;
}

interface FrameVector { name: string; source: string; input: JsonFrameInput; hex: string; decoded: Decoded }

interface Vectors {
  blendshape_names: string[];
  frames: FrameVector[];
  encode_errors: { name: string; input: JsonFrameInput; error: string }[];
  no_face: { seq: number; capture_ms: number; hex: string; decoded: Decoded }[];
  decode_ok: { name: string; hex: string; decoded: Decoded }[];
  decode_errors: { name: string; hex: string; reason: string }[];
  matrices: { name: string; matrix: number[]; pose_deg: number[]; frame: FrameVector }[];
  matrix_errors: { name: string; matrix: Num[]; error: string }[];
  landmarker_results: {
    name: string;
    categories: { index: number; score: number; categoryName: string; displayName: string }[];
    scores?: number[]; seq?: number; capture_ms?: number; hex?: string; error?: string;
  }[];
  batches: { name: string; server_ms: number; entries: [number, string][]; hex: string }[];
  batch_decode_errors: { name: string; hex: string; reason: string }[];
  batch_encode_errors: { name: string; server_ms: number; entries: [number, string][]; error: string }[];
}

const V = raw as unknown as Vectors;

function num(x: Num): number {
  return typeof x === "number" ? x : Number(x); // Number("NaN"), Number("-Infinity"), ...
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function unhex(text: string): Uint8Array {
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function toInput(j: JsonFrameInput): FrameInput {
  return {
    seq: j.seq, captureMs: j.capture_ms, scores: j.scores.map(num),
    yawDeg: num(j.yaw_deg), pitchDeg: num(j.pitch_deg), rollDeg: num(j.roll_deg),
    txMm: num(j.tx_mm), tyMm: num(j.ty_mm), tzMm: num(j.tz_mm), quality: j.quality,
    facePresent: j.face_present, poseValid: j.pose_valid, shapesValid: j.shapes_valid,
  };
}

function asDecoded(f: Frame): Decoded {
  return {
    seq: f.seq, capture_ms: f.captureMs, flags: f.flags, yaw_cdeg: f.yawCdeg,
    pitch_cdeg: f.pitchCdeg, roll_cdeg: f.rollCdeg, tx_mm: f.txMm, ty_mm: f.tyMm,
    tz_mm: f.tzMm, quality: f.quality, shapes: hex(f.shapes),
  };
}

describe("vector file", () => {
  it("covers every recording, edge and refusal the generator promises", () => {
    const sources = new Set(V.frames.map((v) => v.source.split(" frame ")[0]));
    for (const file of ["livelinkface_alex_rom_3.csv", "llv_dao.gesichter",
      "llv_dao_decoded.csv", "mediapipe_single_frame_vsekai_blendshapes.json"]) {
      expect(sources).toContain(file);
    }
    expect(V.frames.length).toBeGreaterThan(60);
    expect(new Set(V.decode_errors.map((v) => v.reason)))
      .toEqual(new Set(["length", "kind", "flags", "pose_range"]));
    expect(V.encode_errors.length).toBeGreaterThan(30);
  });
});

describe("blend-shape names", () => {
  it("match the Python wire order", () => {
    expect(BLENDSHAPE_NAMES).toEqual(V.blendshape_names);
    expect(BLENDSHAPE_NAMES).toHaveLength(SHAPE_COUNT);
    expect(SHAPE_INDEX.get("eyeBlinkLeft")).toBe(8);
    expect(wireIndex("_neutral")).toBeUndefined();
    expect(wireIndex("tongueOut")).toBeUndefined();
  });
});

describe("encodeFrame", () => {
  it.each(V.frames.map((v) => [v.name, v] as const))("%s", (_, v) => {
    const bytes = encodeFrame(toInput(v.input));
    expect(bytes).toHaveLength(FRAME_SIZE);
    expect(hex(bytes)).toBe(v.hex);
    expect(asDecoded(decodeFrame(bytes))).toEqual(v.decoded);
  });

  it.each(V.encode_errors.map((v) => [v.name, v] as const))("refuses %s", (_, v) => {
    expect(() => encodeFrame(toInput(v.input))).toThrow(FrameEncodeError);
  });

  it("rounds halves up where Math.round would not", () => {
    const scores = new Array<number>(SHAPE_COUNT).fill(0);
    const bytes = encodeFrame({ seq: 0, captureMs: 0, scores, txMm: 0.49999999999999994 });
    expect(Math.round(0.49999999999999994)).toBe(0);
    expect(decodeFrame(bytes).txMm).toBe(1); // as Python's floor(x + 0.5)
  });

  it("quantizes like Python", () => {
    expect(quantizeScore(-3)).toBe(0);
    expect(quantizeScore(0.5 / 255)).toBe(1);
    expect(quantizeScore(1.0033)).toBe(255);
    expect(() => quantizeScore(Number.NaN)).toThrow(FrameEncodeError);
  });
});

describe("encodeNoFaceFrame", () => {
  it.each(V.no_face.map((v) => [`${v.seq} ${v.capture_ms}`, v] as const))("%s", (_, v) => {
    const bytes = encodeNoFaceFrame(v.seq, v.capture_ms);
    expect(hex(bytes)).toBe(v.hex);
    const f = decodeFrame(bytes);
    expect(asDecoded(f)).toEqual(v.decoded);
    expect([facePresent(f), poseValid(f), shapesValid(f)]).toEqual([false, false, false]);
  });
});

describe("decodeFrame", () => {
  it.each(V.decode_ok.map((v) => [v.name, v] as const))("decodes %s", (_, v) => {
    const bytes = unhex(v.hex);
    expect(checkFrame(bytes)).toBeNull();
    expect(asDecoded(decodeFrame(bytes))).toEqual(v.decoded);
    expect(asDecoded(decodeFrame(bytes.slice().buffer))).toEqual(v.decoded); // ArrayBuffer
  });

  it.each(V.decode_errors.map((v) => [v.name, v] as const))("rejects %s", (_, v) => {
    const bytes = unhex(v.hex);
    expect(checkFrame(bytes)).toBe(v.reason);
    expect(() => decodeFrame(bytes)).toThrow(FrameError);
    try {
      decodeFrame(bytes);
    } catch (err) {
      expect((err as FrameError).reason).toBe(v.reason);
    }
  });

  it("reads a frame inside a larger buffer (a view with an offset)", () => {
    const v = V.frames[0]!;
    const padded = new Uint8Array(FRAME_SIZE + 5);
    padded.set(unhex(v.hex), 3);
    expect(asDecoded(decodeFrame(padded.subarray(3, 3 + FRAME_SIZE)))).toEqual(v.decoded);
  });

  it("reads scores by index and name", () => {
    const f = decodeFrame(unhex(V.decode_ok[0]!.hex));
    expect(score(f, 1)).toBeCloseTo(5 / 255, 12);
    expect(score(f, "browDownRight")).toBe(score(f, 1));
    expect(() => score(f, "tongueOut")).toThrow(RangeError);
    expect(() => score(f, 51)).toThrow(RangeError);
  });
});

describe("poseFromMatrix", () => {
  it.each(V.matrices.map((v) => [v.name, v] as const))("%s", (_, v) => {
    const pose = poseFromMatrix(v.matrix);
    pose.forEach((deg, i) => expect(deg).toBeCloseTo(v.pose_deg[i]!, 8));
    const [yawDeg, pitchDeg, rollDeg] = pose;
    const input = { ...toInput(v.frame.input), yawDeg, pitchDeg, rollDeg };
    expect(hex(encodeFrame(input))).toBe(v.frame.hex);
  });

  it.each(V.matrix_errors.map((v) => [v.name, v] as const))("refuses %s", (_, v) => {
    expect(() => poseFromMatrix(v.matrix.map(num))).toThrow(RangeError);
  });
});

describe("MediaPipe Face Landmarker results", () => {
  const ok = V.landmarker_results.filter((v) => v.error === undefined);
  const refused = V.landmarker_results.filter((v) => v.error !== undefined);

  it.each(ok.map((v) => [v.name, v] as const))("maps %s", (_, v) => {
    expect(Array.from(scoresFromCategories(v.categories))).toEqual(v.scores);
    const result = { faceBlendshapes: [{ categories: v.categories }] };
    const bytes = frameFromLandmarkerResult(result, v.seq!, v.capture_ms!);
    expect(bytes && hex(bytes)).toBe(v.hex);
  });

  it.each(refused.map((v) => [v.name, v] as const))("refuses %s", (_, v) => {
    expect(() => scoresFromCategories(v.categories)).toThrow(/jawOpen/);
  });

  it("gives null without a face", () => {
    expect(frameFromLandmarkerResult({ faceBlendshapes: [] }, 1, 2)).toBeNull();
    expect(frameFromLandmarkerResult({}, 1, 2)).toBeNull();
  });

  it("takes the pose and the translation (cm -> mm) from the matrix", () => {
    const v = V.matrices.find((m) => m.name.startsWith("rotation yaw 25"))!;
    const categories = ok[0]!.categories;
    const bytes = frameFromLandmarkerResult(
      { faceBlendshapes: [{ categories }], facialTransformationMatrixes: [{ data: v.matrix }] },
      9, 10)!;
    const f = decodeFrame(bytes);
    expect(poseValid(f)).toBe(true);
    expect([f.yawCdeg, f.pitchCdeg, f.rollCdeg])
      .toEqual(v.pose_deg.map((d) => Math.floor(d * 100 + 0.5)));
    expect([f.txMm, f.tyMm, f.tzMm]).toEqual([-30, 45, -550]); // matrix holds (-3, 4.5, -55) cm
    expect(hex(f.shapes)).toBe(ok[0]!.hex!.slice(42));
  });

  it("sends the face without a pose when the matrix is unusable", () => {
    const categories = ok[0]!.categories;
    const bytes = frameFromLandmarkerResult(
      { faceBlendshapes: [{ categories }], facialTransformationMatrixes: [{ data: new Array(16).fill(0) }] },
      40, 90_000)!;
    expect(hex(bytes)).toBe(ok[0]!.hex);
  });
});

describe("batches", () => {
  it.each(V.batches.map((v) => [v.name, v] as const))("%s", (_, v) => {
    const entries = v.entries.map(([slot, f]) => [slot, unhex(f)] as const);
    expect(hex(encodeBatch(v.server_ms, entries))).toBe(v.hex);
    const batch = decodeBatch(unhex(v.hex).buffer);
    expect(batch.serverMs).toBe(v.server_ms);
    expect(batch.entries.map((e) => [e.slot, hex(e.frame)])).toEqual(v.entries);
  });

  it.each(V.batch_decode_errors.map((v) => [v.name, v] as const))("rejects %s", (_, v) => {
    try {
      decodeBatch(unhex(v.hex));
      expect.unreachable("decodeBatch accepted a malformed batch");
    } catch (err) {
      expect(err).toBeInstanceOf(FrameError);
      expect((err as FrameError).reason).toBe(v.reason);
    }
  });

  it.each(V.batch_encode_errors.map((v) => [v.name, v] as const))("refuses %s", (_, v) => {
    const entries = v.entries.map(([slot, f]) => [slot, unhex(f)] as const);
    expect(() => encodeBatch(v.server_ms, entries)).toThrow(FrameEncodeError);
  });
});

describe("wrapDeltaMs", () => {
  it("measures across the u32 wrap like avatars.frame.wrap_delta_ms", () => {
    expect(wrapDeltaMs(2 ** 32 + 5, 2 ** 32 - 10)).toBe(15);
    expect(wrapDeltaMs(5, 2 ** 32 - 10)).toBe(15);
    expect(wrapDeltaMs(900, 1_000)).toBe(2 ** 32 - 100);
  });
});

/**
 * Face recordings as the browser reads them: a port of the text loaders of
 * avatars/recordings.py (Live Link Face CSV export, LLV capture decoded to CSV, one
 * MediaPipe Face Landmarker result as JSON). Columns and values are mapped BY NAME to the
 * wire order of blendshapes.ts; scores stay raw (clamping is the encoder's job); head angles
 * in the files are radians and become degrees. test/sources.test.ts replays the vectors that
 * tests/make_recording_vectors.py makes with the Python loaders and compares exactly.
 *
 * LLV `.gesichter` captures (gzip of Live Link Face v6 UDP packets) are read by
 * {@link parseGesichter}, which needs the platform's DecompressionStream (browsers, Node 18+).
 */

import { BLENDSHAPE_NAMES } from "../blendshapes";

/** One recorded face: ms since the first frame, 51 raw scores in wire order, head pose in
 * degrees (pitch > 0 = looking down, as on the wire). */
export interface RecordedFrame {
  readonly tMs: number;
  readonly scores: readonly number[];
  readonly yawDeg: number;
  readonly pitchDeg: number;
  readonly rollDeg: number;
}

/** A loaded recording (avatars.recordings.Recording). `fps` is nominal (LLV: the packets'
 * rate; Live Link CSV: the measured mean row rate; one MediaPipe frame: 0). `hasPose` is
 * false when every head angle is 0 (the Live Link CSV take). */
export interface Recording {
  readonly name: string;
  readonly fps: number;
  readonly frames: readonly RecordedFrame[];
  readonly hasPose: boolean;
}

/** Which loader a file needs. */
export type RecordingFormat = "livelink_csv" | "llv_csv" | "mediapipe_json" | "llv_gesichter";

/** A file that is not a recording this module reads, or a malformed one. */
export class RecordingFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RecordingFormatError";
  }
}

/** Frame rate of the Live Link CSV timecode `hh:mm:ss:ff.fff` (ff runs 0..59). */
export const LIVELINK_TIMECODE_FPS = 60;
const DAY_MS = 86_400_000;
const RAD_TO_DEG = 180.0 / Math.PI; // CPython's math.degrees multiplies by this constant
const HEAD_COLUMNS = ["HeadYaw", "HeadPitch", "HeadRoll"] as const;
const LLV_TIME_COLUMNS = ["FrameNumber", "SubFrame", "FpsNumerator", "FpsDenominator"] as const;
/** Version byte of Live Link Face v6 packets and `.gesichter` files. */
export const LLV_VERSION = 6;
/** The 9 angles (radians) after the 52 shapes in a Live Link Face packet. */
const POSE_NAMES = ["HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch",
  "LeftEyeRoll", "RightEyeYaw", "RightEyePitch", "RightEyeRoll"] as const;
/** Live Link Face UDP value order: 52 shapes (avatars.blendshapes.LIVELINK_UDP_NAMES), then
 * POSE_NAMES. */
const LLV_VALUE_NAMES: readonly string[] = [
  "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft",
  "EyeSquintLeft", "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight",
  "EyeLookOutRight", "EyeLookUpRight", "EyeSquintRight", "EyeWideRight", "JawForward",
  "JawLeft", "JawRight", "JawOpen", "MouthClose", "MouthFunnel", "MouthPucker", "MouthLeft",
  "MouthRight", "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft", "MouthFrownRight",
  "MouthDimpleLeft", "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight",
  "MouthRollLower", "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper", "MouthPressLeft",
  "MouthPressRight", "MouthLowerDownLeft", "MouthLowerDownRight", "MouthUpperUpLeft",
  "MouthUpperUpRight", "BrowDownLeft", "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft",
  "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft", "CheekSquintRight", "NoseSneerLeft",
  "NoseSneerRight", "TongueOut", ...POSE_NAMES,
];

/** Live Link's PascalCase name of a wire shape (`browDownLeft` -> `BrowDownLeft`). */
export function livelinkName(mediapipeName: string): string {
  return mediapipeName.charAt(0).toUpperCase() + mediapipeName.slice(1);
}

const LIVELINK_NAMES: readonly string[] = BLENDSHAPE_NAMES.map(livelinkName);

function stem(name: string): string {
  const base = name.split(/[/\\]/).pop() ?? name;
  const dot = base.lastIndexOf(".");
  return dot > 0 ? base.slice(0, dot) : base;
}

function csvRows(text: string): string[][] {
  return text.split(/\r?\n/).filter((line) => line.length > 0).map((line) => line.split(","));
}

function columns(name: string, header: readonly string[], wanted: readonly string[]): number[] {
  const index = new Map(header.map((h, i) => [h, i] as const));
  const missing = wanted.filter((w) => !index.has(w));
  if (missing.length > 0) {
    throw new RecordingFormatError(`${name}: missing columns ${missing.join(", ")}`);
  }
  return wanted.map((w) => index.get(w)!);
}

function number(row: readonly string[], col: number, name: string): number {
  const cell = row[col];
  const value = cell === undefined || cell.trim() === "" ? Number.NaN : Number(cell);
  if (Number.isNaN(value)) {
    throw new RecordingFormatError(`${name}: not a number in column ${col}: ${String(cell)}`);
  }
  return value;
}

function anyPose(frames: readonly RecordedFrame[]): boolean {
  return frames.some((f) => f.yawDeg !== 0 || f.pitchDeg !== 0 || f.rollDeg !== 0);
}

/** ms of a Live Link timecode `hh:mm:ss:ff.fff` (ff at 60 fps), computed as the Python
 * loader does. Throws RecordingFormatError for a malformed timecode or ff outside 0..59. */
export function timecodeMs(timecode: string): number {
  const parts = timecode.split(":");
  if (parts.length !== 4 || parts.some((p) => p.trim() === "" || Number.isNaN(Number(p)))) {
    throw new RecordingFormatError(`bad timecode ${JSON.stringify(timecode)}`);
  }
  const [h, m, s, f] = parts.map(Number) as [number, number, number, number];
  if (!(f >= 0 && f < LIVELINK_TIMECODE_FPS)) {
    throw new RecordingFormatError(`timecode frame ${f} outside 0..${LIVELINK_TIMECODE_FPS - 1}`);
  }
  const secondsTotal = (Math.trunc(h) * 60 + Math.trunc(m)) * 60 + Math.trunc(s);
  return (secondsTotal + f / LIVELINK_TIMECODE_FPS) * 1000.0;
}

/** Parse a Live Link Face CSV export (avatars.recordings.load_livelink_csv): t from the
 * Timecode column relative to the first row (a wrap past midnight adds 24 h), shapes by
 * name, HeadYaw/Pitch/Roll radians -> degrees, fps the measured mean row rate. */
export function parseLivelinkCsv(text: string, name = "recording"): Recording {
  const [header = [], ...rows] = csvRows(text);
  const [tcCol] = columns(name, header, ["Timecode"]) as [number];
  const shapeCols = columns(name, header, LIVELINK_NAMES);
  const poseCols = columns(name, header, HEAD_COLUMNS);
  const frames: RecordedFrame[] = [];
  let t0 = 0;
  let prev = 0;
  for (const row of rows) {
    let t = timecodeMs(row[tcCol] ?? "");
    if (frames.length === 0) {
      t0 = prev = t;
    } else if (t < prev) {
      t += DAY_MS;
    }
    prev = t;
    const [yaw, pitch, roll] = poseCols.map((c) => number(row, c, name) * RAD_TO_DEG);
    frames.push({
      tMs: t - t0,
      scores: shapeCols.map((c) => number(row, c, name)),
      yawDeg: yaw!, pitchDeg: pitch!, rollDeg: roll!,
    });
  }
  if (frames.length === 0) throw new RecordingFormatError(`${name}: no frames`);
  const span = frames[frames.length - 1]!.tMs;
  const fps = span > 0 ? ((frames.length - 1) * 1000.0) / span : 0.0;
  return { name: stem(name), fps, frames, hasPose: anyPose(frames) };
}

/** Parse an LLV capture decoded to CSV (avatars.recordings.load_llv_csv): t from
 * FrameNumber + SubFrame at FpsNumerator/FpsDenominator, shapes and head pose by name. */
export function parseLlvCsv(text: string, name = "recording"): Recording {
  const [header = [], ...rows] = csvRows(text);
  const timeCols = columns(name, header, LLV_TIME_COLUMNS);
  const shapeCols = columns(name, header, LIVELINK_NAMES);
  const poseCols = columns(name, header, HEAD_COLUMNS);
  if (rows.length === 0) throw new RecordingFormatError(`${name}: no frames`);
  const times = rows.map((row) => timeCols.map((c) => number(row, c, name)));
  const [frame0, sub0, num, den] = times[0] as [number, number, number, number];
  if (!(num > 0 && den > 0)) throw new RecordingFormatError(`${name}: bad fps ${num}/${den}`);
  if (times.some(([, , n, d]) => n !== num || d !== den)) {
    throw new RecordingFormatError(`${name}: the frame rate changes mid-recording`);
  }
  const msPerFrame = (1000.0 * den) / num;
  const frames = rows.map((row, i): RecordedFrame => {
    const [frameNumber, sub] = times[i] as [number, number];
    const [yaw, pitch, roll] = poseCols.map((c) => number(row, c, name) * RAD_TO_DEG);
    return {
      tMs: ((frameNumber - frame0) + (sub - sub0)) * msPerFrame,
      scores: shapeCols.map((c) => number(row, c, name)),
      yawDeg: yaw!, pitchDeg: pitch!, rollDeg: roll!,
    };
  });
  return { name: stem(name), fps: num / den, frames, hasPose: anyPose(frames) };
}

interface NamedScore { name: string; score: number }

/** Parse one MediaPipe Face Landmarker blend-shape result as a 1-frame recording
 * (avatars.recordings.load_mediapipe_json): `{"people": [[{name, score}]]}` or the
 * tasks-vision `{"faceBlendshapes": [{"categories": [{categoryName, score}]}]}`. */
export function parseMediapipeJson(text: string, name = "recording"): Recording {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new RecordingFormatError(`${name}: not JSON (${String(err)})`);
  }
  let pairs: NamedScore[];
  const d = doc as Record<string, unknown> | null;
  try {
    if (d !== null && typeof d === "object" && "people" in d) {
      const people = d.people as { name: string; score: number }[][];
      pairs = people[0]!.map((c) => ({ name: String(c.name), score: Number(c.score) }));
    } else if (d !== null && typeof d === "object" && "faceBlendshapes" in d) {
      const faces = d.faceBlendshapes as { categories: { categoryName: string; score: number }[] }[];
      pairs = faces[0]!.categories.map((c) => ({ name: c.categoryName, score: Number(c.score) }));
    } else {
      throw new RecordingFormatError(`${name}: no 'people' or 'faceBlendshapes' key`);
    }
  } catch (err) {
    if (err instanceof RecordingFormatError) throw err;
    throw new RecordingFormatError(`${name}: unexpected layout (${String(err)})`);
  }
  const byName = new Map(pairs.map((p) => [p.name, p.score] as const));
  const missing = BLENDSHAPE_NAMES.filter((n) => !byName.has(n));
  if (missing.length > 0) {
    throw new RecordingFormatError(`${name}: missing blend shapes ${missing.join(", ")}`);
  }
  const scores = BLENDSHAPE_NAMES.map((n) => byName.get(n)!);
  return {
    name: stem(name), fps: 0, hasPose: false,
    frames: [{ tMs: 0, scores, yawDeg: 0, pitchDeg: 0, rollDeg: 0 }],
  };
}

/** The format of a file, by suffix (`.json`) or, for `.csv`, by header (`Timecode`: Live
 * Link export; `FrameNumber`: decoded LLV); null when none of the loaders reads it. */
export function recordingFormat(name: string, text: string): RecordingFormat | null {
  const lower = name.toLowerCase().split("?")[0] ?? "";
  if (lower.endsWith(".json")) return "mediapipe_json";
  if (lower.endsWith(".gesichter")) return "llv_gesichter";
  if (lower.endsWith(".csv")) {
    const header = (text.split(/\r?\n/, 1)[0] ?? "").split(",");
    if (header.includes("Timecode")) return "livelink_csv";
    if (header.includes("FrameNumber")) return "llv_csv";
  }
  return null;
}

/** Parse any recording this module reads (see {@link recordingFormat}). Throws
 * RecordingFormatError for another format or a malformed file. */
export function parseRecording(name: string, text: string): Recording {
  switch (recordingFormat(name, text)) {
    case "livelink_csv": return parseLivelinkCsv(text, name);
    case "llv_csv": return parseLlvCsv(text, name);
    case "mediapipe_json": return parseMediapipeJson(text, name);
    case "llv_gesichter":
      throw new RecordingFormatError(`${name}: a binary file, use parseRecordingBytes`);
    default: throw new RecordingFormatError(`${name}: unknown recording format`);
  }
}

/** Parse a recording from its bytes: `.gesichter` via {@link parseGesichter}, the rest as
 * UTF-8 text via {@link parseRecording}. */
export async function parseRecordingBytes(name: string, bytes: Uint8Array): Promise<Recording> {
  if (recordingFormat(name, "") === "llv_gesichter") return parseGesichter(bytes, name);
  return parseRecording(name, new TextDecoder().decode(bytes));
}

async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream()
    .pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Parse an LLV `.gesichter` capture (avatars.recordings.load_llv_gesichter): gzip of u8
 * version 6, u32 BE packet count, then count x (u32 BE length + Live Link Face v6 packet:
 * u8 version, u32 length + device id, u32 length + subject name, i32 frame number, f32
 * subframe, i32 fps numerator, i32 fps denominator, u8 value count 61, 61 x f32, all
 * big-endian). t from frame number + subframe at the packets' fps; shapes by name; head
 * pose radians -> degrees. Throws RecordingFormatError if malformed. */
export async function parseGesichter(bytes: Uint8Array, name = "recording"): Promise<Recording> {
  let raw: Uint8Array;
  try {
    raw = await gunzip(bytes);
  } catch (err) {
    throw new RecordingFormatError(`${name}: not gzip (${String(err)})`);
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const fail = (why: string): never => {
    throw new RecordingFormatError(`${name}: ${why}`);
  };
  if (raw.length < 5 || raw[0] !== LLV_VERSION) fail(`not a version-${LLV_VERSION} file`);
  const count = view.getUint32(1);
  const shapeIdx = BLENDSHAPE_NAMES.map((n) => LLV_VALUE_NAMES.indexOf(livelinkName(n)));
  const headIdx = HEAD_COLUMNS.map((n) => LLV_VALUE_NAMES.indexOf(n));
  const packets: { frame: number; sub: number; num: number; den: number; values: number[] }[] = [];
  let off = 5;
  for (let k = 0; k < count; k++) {
    if (off + 4 > raw.length) fail(`truncated after ${k} of ${count} packets`);
    const end = off + 4 + view.getUint32(off);
    let p = off + 4;
    if (end > raw.length || raw[p] !== LLV_VERSION) fail(`bad packet ${k}`);
    p += 1;
    for (let s = 0; s < 2; s++) p += 4 + view.getUint32(p); // device id, subject name
    if (p + 17 > end) fail(`truncated packet ${k}`);
    const frame = view.getInt32(p);
    const sub = view.getFloat32(p + 4);
    const num = view.getInt32(p + 8);
    const den = view.getInt32(p + 12);
    const n = view.getUint8(p + 16);
    p += 17;
    if (n !== LLV_VALUE_NAMES.length || p + 4 * n !== end || num <= 0 || den <= 0) {
      fail(`unexpected packet ${k}: ${n} values`);
    }
    const values: number[] = [];
    for (let i = 0; i < n; i++) values.push(view.getFloat32(p + 4 * i));
    packets.push({ frame, sub, num, den, values });
    off = end;
  }
  if (off !== raw.length) fail(`${raw.length - off} trailing bytes`);
  if (packets.length === 0) fail("no frames");
  const first = packets[0]!;
  if (packets.some((q) => q.num !== first.num || q.den !== first.den)) {
    fail("the frame rate changes mid-recording");
  }
  const msPerFrame = (1000.0 * first.den) / first.num;
  const frames = packets.map((q): RecordedFrame => {
    const [yaw, pitch, roll] = headIdx.map((i) => q.values[i]! * RAD_TO_DEG);
    return {
      tMs: ((q.frame - first.frame) + (q.sub - first.sub)) * msPerFrame,
      scores: shapeIdx.map((i) => q.values[i]!),
      yawDeg: yaw!, pitchDeg: pitch!, rollDeg: roll!,
    };
  });
  return { name: stem(name), fps: first.num / first.den, frames, hasPose: anyPose(frames) };
}

/**
 * Face recordings as the browser reads them: a port of the text loaders of
 * avatars/recordings.py (Live Link Face CSV export, LLV capture decoded to CSV, one
 * MediaPipe Face Landmarker result as JSON). Columns and values are mapped BY NAME to the
 * wire order of blendshapes.ts; scores stay raw (clamping is the encoder's job); head angles
 * in the files are radians and become degrees. test/sources.test.ts replays the vectors that
 * tests/make_recording_vectors.py makes with the Python loaders and compares exactly.
 *
 * The binary LLV `.gesichter` file (gzip) is not read here: use llv_dao_decoded.csv, the
 * same capture as CSV.
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
export type RecordingFormat = "livelink_csv" | "llv_csv" | "mediapipe_json";

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
    default: throw new RecordingFormatError(`${name}: unknown recording format`);
  }
}

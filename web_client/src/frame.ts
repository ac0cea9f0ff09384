/**
 * Avatar frame codec: the 72-byte frame and the server's `frames` batch (DESIGN.md
 * section 4). A byte-for-byte port of avatars/frame.py: test/frame.test.ts replays the
 * vectors that tests/make_frame_vectors.py generates from the Python codec.
 *
 * Frame, little-endian, Python struct '<BBHIhhhhhhB51s':
 *   0  u8  kind 0xA1
 *   1  u8  flags: bit0 face present, bit1 pose valid, bit2 blend shapes valid
 *   2  u16 sequence number (wraps)
 *   4  u32 capture time, ms on the client's monotonic clock (wraps)
 *   8  i16 yaw, pitch, roll in centidegrees (pitch > 0 = looking down)
 *  14  i16 tx, ty, tz in mm
 *  20  u8  tracking quality 0..255
 *  21  51 x u8 blend-shape scores round(clamp(s, 0, 1) * 255), wire order (blendshapes.ts)
 * Batch: u8 0xB1, u8 count, f64 server_ms, then count x (u8 slot, 72-byte frame).
 *
 * Rounding is half up, floor(x + 0.5) computed in doubles exactly as Python does it (not
 * Math.round, which differs just below a half, e.g. 0.49999999999999994).
 */

import { BLENDSHAPE_NAMES, SHAPE_COUNT, SHAPE_INDEX } from "./blendshapes";

export const FRAME_SIZE = 72;
export const FRAME_KIND = 0xa1;
export const FLAG_FACE = 1;
export const FLAG_POSE = 2;
export const FLAG_SHAPES = 4;
export const YAW_LIMIT_CDEG = 18_000;
export const PITCH_LIMIT_CDEG = 9_000;
export const ROLL_LIMIT_CDEG = 18_000;
export const BATCH_KIND = 0xb1;
export const BATCH_MAX_ENTRIES = 255;
export const BATCH_HEADER_SIZE = 10;
export const BATCH_ENTRY_SIZE = 1 + FRAME_SIZE;

const KNOWN_FLAGS = FLAG_FACE | FLAG_POSE | FLAG_SHAPES;
const I16_MAX = 32_767;
const SHAPES_OFFSET = 21;
const RAD_TO_DEG = 180.0 / Math.PI; // CPython's math.degrees multiplies by this constant

/** Why a frame or batch was rejected (avatars.frame.FrameErrorReason): wrong byte count;
 * wrong kind byte; reserved flag bits, or pose/shape bits without face-present; yaw/roll
 * beyond +-18000 or pitch beyond +-9000 centidegrees. */
export type FrameErrorReason = "length" | "kind" | "flags" | "pose_range";

/** A malformed frame or batch; `reason` says why. */
export class FrameError extends Error {
  readonly reason: FrameErrorReason;

  constructor(reason: FrameErrorReason, detail = "") {
    super(`bad avatar frame: ${reason}${detail ? ` (${detail})` : ""}`);
    this.name = "FrameError";
    this.reason = reason;
  }
}

/** A value the encoder refuses (Python raises ValueError/TypeError for the same input):
 * wrong score count, NaN or infinity, a pose or translation out of range, a quality outside
 * 0..255, a non-integer sequence number, capture time or slot. */
export class FrameEncodeError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = "FrameEncodeError";
  }
}

/** One decoded frame; fields as on the wire (integers). */
export interface Frame {
  readonly seq: number; // 0..65535, wraps
  readonly captureMs: number; // 0..2**32-1, client monotonic clock, wraps
  readonly flags: number;
  readonly yawCdeg: number;
  readonly pitchCdeg: number; // > 0 = looking down
  readonly rollCdeg: number;
  readonly txMm: number;
  readonly tyMm: number;
  readonly tzMm: number;
  readonly quality: number; // 0..255
  readonly shapes: Uint8Array; // 51 bytes, wire order, 0..255 = score 0..1
}

/** Input of {@link encodeFrame}. Angles in degrees (pitch > 0 = looking down), translations
 * in mm; scores are 51 raw MediaPipe scores in wire order (unclamped). */
export interface FrameInput {
  seq: number;
  captureMs: number;
  scores: ArrayLike<number>;
  yawDeg?: number;
  pitchDeg?: number;
  rollDeg?: number;
  txMm?: number;
  tyMm?: number;
  tzMm?: number;
  quality?: number;
  facePresent?: boolean;
  poseValid?: boolean;
  shapesValid?: boolean;
}

/** A byte buffer holding a frame or batch (msgpack `bin` arrives as an ArrayBuffer). */
export type Bytes = ArrayBufferLike | ArrayBufferView;

function asView(data: Bytes): DataView {
  return ArrayBuffer.isView(data)
    ? new DataView(data.buffer, data.byteOffset, data.byteLength)
    : new DataView(data);
}

/** The bytes as an ArrayBuffer holding exactly them (the buffer itself when it does, else
 * a copy). Send frames as this: the browser's msgpack encoder (notepack.io) writes an
 * ArrayBuffer as `bin` but not a typed array. */
export function toArrayBuffer(data: Bytes): ArrayBuffer {
  const view = ArrayBuffer.isView(data)
    ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    : new Uint8Array(data);
  const whole = view.byteOffset === 0 && view.byteLength === view.buffer.byteLength;
  return whole && view.buffer instanceof ArrayBuffer ? view.buffer : view.slice().buffer;
}

function roundHalfUp(x: number): number {
  return Math.floor(x + 0.5);
}

/** Quantize one raw MediaPipe score to a wire byte: round(clamp(s, 0, 1) * 255), halves up.
 * Throws FrameEncodeError for NaN or infinity. */
export function quantizeScore(s: number): number {
  if (!Number.isFinite(s)) {
    throw new FrameEncodeError(`blend-shape score is not finite: ${s}`);
  }
  return Math.floor((s < 0 ? 0 : s > 1 ? 1 : s) * 255 + 0.5);
}

function toWire(value: number, scale: number, limit: number, what: string): number {
  if (!Number.isFinite(value)) {
    throw new FrameEncodeError(`${what} is not finite: ${value}`);
  }
  const wire = roundHalfUp(value * scale);
  if (!(-limit <= wire && wire <= limit)) {
    throw new FrameEncodeError(`${what} ${value} outside +-${limit / scale}`);
  }
  return wire;
}

function wholeNumber(value: number, what: string): number {
  if (!Number.isInteger(value)) {
    throw new FrameEncodeError(`${what} must be an integer, got ${value}`);
  }
  return value;
}

/** Encode one 72-byte avatar frame (avatars.frame.encode_frame).
 *
 * `seq` is taken mod 2**16 and `captureMs` mod 2**32 (both must be integers). Yaw and roll
 * must round within +-180 degrees, pitch within +-90, translations within an i16 of mm.
 * Without a face the pose and shape bits are cleared; the values are still written.
 * Throws FrameEncodeError for a wrong score count, NaN/infinity, an out-of-range pose or
 * quality. */
export function encodeFrame(input: FrameInput): Uint8Array {
  const { scores } = input;
  if (scores.length !== SHAPE_COUNT) {
    throw new FrameEncodeError(`expected ${SHAPE_COUNT} blend-shape scores, got ${scores.length}`);
  }
  const quality = input.quality ?? 255;
  if (!Number.isInteger(quality) || quality < 0 || quality > 255) {
    throw new FrameEncodeError(`quality ${quality} outside 0..255`);
  }
  let flags = 0;
  if (input.facePresent ?? true) {
    flags = FLAG_FACE | ((input.poseValid ?? true) ? FLAG_POSE : 0)
      | ((input.shapesValid ?? true) ? FLAG_SHAPES : 0);
  }
  const out = new Uint8Array(FRAME_SIZE);
  const view = new DataView(out.buffer);
  view.setUint8(0, FRAME_KIND);
  view.setUint8(1, flags);
  view.setUint16(2, wholeNumber(input.seq, "seq") & 0xffff, true);
  view.setUint32(4, wholeNumber(input.captureMs, "captureMs") >>> 0, true);
  view.setInt16(8, toWire(input.yawDeg ?? 0, 100, YAW_LIMIT_CDEG, "yawDeg"), true);
  view.setInt16(10, toWire(input.pitchDeg ?? 0, 100, PITCH_LIMIT_CDEG, "pitchDeg"), true);
  view.setInt16(12, toWire(input.rollDeg ?? 0, 100, ROLL_LIMIT_CDEG, "rollDeg"), true);
  view.setInt16(14, toWire(input.txMm ?? 0, 1, I16_MAX, "txMm"), true);
  view.setInt16(16, toWire(input.tyMm ?? 0, 1, I16_MAX, "tyMm"), true);
  view.setInt16(18, toWire(input.tzMm ?? 0, 1, I16_MAX, "tzMm"), true);
  view.setUint8(20, quality);
  for (let i = 0; i < SHAPE_COUNT; i++) {
    out[SHAPES_OFFSET + i] = quantizeScore(scores[i] as number);
  }
  return out;
}

/** The 2 Hz "face lost" frame: flags 0, pose and shapes zero, quality 0
 * (avatars.frame.encode_no_face_frame). */
export function encodeNoFaceFrame(seq: number, captureMs: number): Uint8Array {
  const out = new Uint8Array(FRAME_SIZE);
  const view = new DataView(out.buffer);
  view.setUint8(0, FRAME_KIND);
  view.setUint16(2, wholeNumber(seq, "seq") & 0xffff, true);
  view.setUint32(4, wholeNumber(captureMs, "captureMs") >>> 0, true);
  return out;
}

/** Validate one frame as the server does: null if valid, else the rejection reason.
 * Checks, in order: length 72, kind 0xA1, no reserved flag bits and no pose/shape bits
 * without face-present, yaw/roll within +-18000 and pitch within +-9000 centidegrees. */
export function checkFrame(data: Bytes): FrameErrorReason | null {
  if (data.byteLength !== FRAME_SIZE) return "length";
  const view = asView(data);
  if (view.getUint8(0) !== FRAME_KIND) return "kind";
  const flags = view.getUint8(1);
  if (flags & ~KNOWN_FLAGS || (flags && !(flags & FLAG_FACE))) return "flags";
  const yaw = view.getInt16(8, true);
  const pitch = view.getInt16(10, true);
  const roll = view.getInt16(12, true);
  if (
    !(-YAW_LIMIT_CDEG <= yaw && yaw <= YAW_LIMIT_CDEG
      && -PITCH_LIMIT_CDEG <= pitch && pitch <= PITCH_LIMIT_CDEG
      && -ROLL_LIMIT_CDEG <= roll && roll <= ROLL_LIMIT_CDEG)
  ) {
    return "pose_range";
  }
  return null;
}

/** Decode and validate one 72-byte frame. Throws FrameError (see {@link checkFrame}). */
export function decodeFrame(data: Bytes): Frame {
  const reason = checkFrame(data);
  if (reason !== null) throw new FrameError(reason);
  const view = asView(data);
  const shapes = new Uint8Array(SHAPE_COUNT);
  for (let i = 0; i < SHAPE_COUNT; i++) shapes[i] = view.getUint8(SHAPES_OFFSET + i);
  return {
    flags: view.getUint8(1),
    seq: view.getUint16(2, true),
    captureMs: view.getUint32(4, true),
    yawCdeg: view.getInt16(8, true),
    pitchCdeg: view.getInt16(10, true),
    rollCdeg: view.getInt16(12, true),
    txMm: view.getInt16(14, true),
    tyMm: view.getInt16(16, true),
    tzMm: view.getInt16(18, true),
    quality: view.getUint8(20),
    shapes,
  };
}

/** Whether a face was detected (flag bit 0). */
export const facePresent = (f: Frame): boolean => (f.flags & FLAG_FACE) !== 0;
/** Whether yaw/pitch/roll and tx/ty/tz carry a measured head pose (flag bit 1). */
export const poseValid = (f: Frame): boolean => (f.flags & FLAG_POSE) !== 0;
/** Whether the 51 blend-shape bytes carry scores (flag bit 2). */
export const shapesValid = (f: Frame): boolean => (f.flags & FLAG_SHAPES) !== 0;

/** One blend-shape score in 0..1 (quantized to 1/255), by wire index or MediaPipe name.
 * Throws RangeError for an unknown name or an index outside 0..50. */
export function score(f: Frame, shape: number | string): number {
  const index = typeof shape === "string" ? SHAPE_INDEX.get(shape) : shape;
  if (index === undefined || !Number.isInteger(index) || index < 0 || index >= SHAPE_COUNT) {
    throw new RangeError(`no blend shape ${String(shape)}`);
  }
  return (f.shapes[index] as number) / 255;
}

/** Head pose [yaw, pitch, roll] in degrees from a MediaPipe facialTransformationMatrix
 * (avatars.frame.pose_from_matrix).
 *
 * `m`: 16 numbers, column-major 4x4 (row i, column j at m[j * 4 + i]): rotation times a
 * scale, plus a translation (ignored here). Each column of the 3x3 is divided by its norm;
 * with R = Ry(yaw) Rx(pitch) Rz(roll): pitch = asin(-R12), yaw = atan2(R02, R22),
 * roll = atan2(R10, R11). Pitch > 0 = looking down. The last bits may differ from Python's
 * (libm vs V8), far below the wire's 0.01 degree. Throws RangeError for a wrong length,
 * non-finite values or a zero-scale axis. */
export function poseFromMatrix(m: ArrayLike<number>): [number, number, number] {
  if (m.length !== 16) throw new RangeError(`expected 16 matrix elements, got ${m.length}`);
  const a = Array.from(m);
  if (!a.every(Number.isFinite)) throw new RangeError("matrix has a non-finite element");
  const s0 = Math.hypot(a[0]!, a[1]!, a[2]!);
  const s1 = Math.hypot(a[4]!, a[5]!, a[6]!);
  const s2 = Math.hypot(a[8]!, a[9]!, a[10]!);
  if (Math.min(s0, s1, s2) <= 1e-12) throw new RangeError("matrix has a zero-scale axis");
  const r12 = a[9]! / s2;
  const pitch = Math.asin(-r12 < -1 ? -1 : -r12 > 1 ? 1 : -r12);
  const yaw = Math.atan2(a[8]! / s2, a[10]! / s2);
  const roll = Math.atan2(a[1]! / s0, a[5]! / s1);
  return [yaw * RAD_TO_DEG, pitch * RAD_TO_DEG, roll * RAD_TO_DEG];
}

/** Encode a server -> clients `frames` batch (avatars.frame.encode_batch): server epoch ms
 * and (slot, 72-byte frame) entries. Throws FrameEncodeError for more than 255 entries, a
 * slot outside 0..255 or a frame whose length is not 72. */
export function encodeBatch(
  serverMs: number,
  entries: readonly (readonly [number, Bytes])[],
): Uint8Array {
  if (entries.length > BATCH_MAX_ENTRIES) {
    throw new FrameEncodeError(`${entries.length} batch entries, at most ${BATCH_MAX_ENTRIES}`);
  }
  const out = new Uint8Array(BATCH_HEADER_SIZE + entries.length * BATCH_ENTRY_SIZE);
  const view = new DataView(out.buffer);
  view.setUint8(0, BATCH_KIND);
  view.setUint8(1, entries.length);
  view.setFloat64(2, serverMs, true);
  let off = BATCH_HEADER_SIZE;
  for (const [slot, frame] of entries) {
    if (!Number.isInteger(slot) || slot < 0 || slot > 255) {
      throw new FrameEncodeError(`slot ${slot} outside 0..255`);
    }
    if (frame.byteLength !== FRAME_SIZE) {
      throw new FrameEncodeError(
        `frame for slot ${slot} has ${frame.byteLength} bytes, not ${FRAME_SIZE}`);
    }
    out[off] = slot;
    const v = asView(frame);
    out.set(new Uint8Array(v.buffer, v.byteOffset, FRAME_SIZE), off + 1);
    off += BATCH_ENTRY_SIZE;
  }
  return out;
}

/** One entry of a `frames` batch: a member's slot and its 72-byte frame (a copy). */
export interface BatchEntry {
  readonly slot: number;
  readonly frame: Uint8Array;
}

/** A decoded `frames` batch: the server's epoch ms when it was sent, and its entries. */
export interface Batch {
  readonly serverMs: number;
  readonly entries: readonly BatchEntry[];
}

/** Decode a `frames` batch (avatars.frame.decode_batch). Checks the structure only; the
 * frames are not validated (use {@link decodeFrame}). Throws FrameError "length" (short
 * header, or size != 10 + 73 * count) or "kind". */
export function decodeBatch(data: Bytes): Batch {
  if (data.byteLength < BATCH_HEADER_SIZE) {
    throw new FrameError("length", `batch of ${data.byteLength} bytes`);
  }
  const view = asView(data);
  const kind = view.getUint8(0);
  if (kind !== BATCH_KIND) {
    throw new FrameError("kind", `batch kind 0x${kind.toString(16).padStart(2, "0")}`);
  }
  const count = view.getUint8(1);
  if (data.byteLength !== BATCH_HEADER_SIZE + count * BATCH_ENTRY_SIZE) {
    throw new FrameError("length", `batch of ${data.byteLength} bytes for ${count} entries`);
  }
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  const entries: BatchEntry[] = [];
  for (let off = BATCH_HEADER_SIZE; off < bytes.length; off += BATCH_ENTRY_SIZE) {
    entries.push({ slot: bytes[off]!, frame: bytes.slice(off + 1, off + BATCH_ENTRY_SIZE) });
  }
  return { serverMs: view.getFloat64(2, true), entries };
}

/** Milliseconds from `captureMs` to `nowMs` on one wrapping u32 clock (mod 2**32). */
export function wrapDeltaMs(nowMs: number, captureMs: number): number {
  return (nowMs - captureMs) >>> 0;
}

// --- MediaPipe Face Landmarker results ----------------------------------------------------

/** A blend-shape category as tasks-vision reports it (index order; `_neutral` at 0). */
export interface BlendshapeCategory {
  readonly categoryName: string;
  readonly score: number;
  readonly index?: number;
}

/** The parts of a tasks-vision FaceLandmarkerResult the wire needs (structural, so this
 * module does not import MediaPipe). */
export interface LandmarkerResultLike {
  readonly faceBlendshapes?: readonly { readonly categories: readonly BlendshapeCategory[] }[];
  readonly facialTransformationMatrixes?: readonly { readonly data: ArrayLike<number> }[];
}

/** The 51 wire-order raw scores from one face's blend-shape categories, mapped by
 * categoryName (as avatars.recordings.load_mediapipe_json does): `_neutral` and unknown
 * names are ignored, a repeated name keeps its last score, scores stay unclamped.
 * Throws RangeError naming the wire shapes that are missing. */
export function scoresFromCategories(categories: readonly BlendshapeCategory[]): Float64Array {
  const scores = new Float64Array(SHAPE_COUNT);
  const seen = new Uint8Array(SHAPE_COUNT);
  for (const c of categories) {
    const i = SHAPE_INDEX.get(c.categoryName);
    if (i !== undefined) {
      scores[i] = c.score;
      seen[i] = 1;
    }
  }
  const missing = BLENDSHAPE_NAMES.filter((_, i) => seen[i] === 0);
  if (missing.length > 0) {
    throw new RangeError(`missing blend shapes: ${missing.join(", ")}`);
  }
  return scores;
}

/** MediaPipe's metric space is in centimetres; the wire carries millimetres. */
export const MEDIAPIPE_CM_TO_MM = 10;

/** Encode the first face of a Face Landmarker result as a frame, or null when no face was
 * detected (then send {@link encodeNoFaceFrame} at 2 Hz instead).
 *
 * Scores come from {@link scoresFromCategories}; the pose from the first
 * facialTransformationMatrix ({@link poseFromMatrix}; translation column cm -> mm). Without
 * a usable matrix (absent, degenerate, or a pose or translation out of the wire's range)
 * the frame says pose-invalid with a zero pose. `quality` is 0..255 (MediaPipe reports no
 * per-face confidence, so callers pass 255 for a tracked face). Throws RangeError when a
 * blend shape is missing or a score is not finite. */
export function frameFromLandmarkerResult(
  result: LandmarkerResultLike, seq: number, captureMs: number, quality = 255,
): Uint8Array | null {
  const face = result.faceBlendshapes?.[0];
  if (face === undefined || face.categories.length === 0) return null;
  const scores = scoresFromCategories(face.categories);
  const matrix = result.facialTransformationMatrixes?.[0];
  if (matrix !== undefined) {
    try {
      const [yawDeg, pitchDeg, rollDeg] = poseFromMatrix(matrix.data);
      const m = matrix.data;
      return encodeFrame({
        seq, captureMs, scores, yawDeg, pitchDeg, rollDeg, quality,
        txMm: (m[12] as number) * MEDIAPIPE_CM_TO_MM,
        tyMm: (m[13] as number) * MEDIAPIPE_CM_TO_MM,
        tzMm: (m[14] as number) * MEDIAPIPE_CM_TO_MM,
      });
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      // an unusable pose: fall through and send the face without one
    }
  }
  return encodeFrame({ seq, captureMs, scores, quality, poseValid: false });
}

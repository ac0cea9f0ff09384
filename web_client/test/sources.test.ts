/**
 * The recording face source: the TypeScript parsers against the Python loaders
 * (tests/make_recording_vectors.py -> test/vectors/recordings.json, compared exactly), the
 * whole real files when /work/shared/data/face (or $STUDYVERSE_FACE_DATA) is there, the
 * frames it encodes byte for byte, and the player's pacing on a fake clock.
 */

import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { BLENDSHAPE_NAMES } from "../src/blendshapes";
import { decodeFrame, facePresent, poseValid, FLAG_FACE } from "../src/frame";
import { encodeRecordedFrame, RecordingPlayer } from "../src/sources/player";
import {
  parseGesichter, parseLivelinkCsv, parseMediapipeJson, parseRecording, parseRecordingBytes,
  recordingFormat, RecordingFormatError,
  timecodeMs, type Recording,
} from "../src/sources/recording";
import { RecordingSource } from "../src/sources/source";
import raw from "./vectors/recordings.json";

interface PyFrame { t_ms: number; scores: number[]; yaw_deg: number; pitch_deg: number;
  roll_deg: number }
interface Summary { name: string; fps: number; frames: number; duration_ms: number;
  has_pose: boolean }
interface Excerpt extends Summary { file: string; text: string; decoded: PyFrame[] }
interface Whole extends Summary {
  file: string; samples: (PyFrame & { index: number })[];
  encoded: { index: number; seq: number; capture_ms: number; hex: string }[];
}
const vectors = raw as unknown as { excerpts: Excerpt[]; whole: Whole[] };

const FACE_DIR = process.env.STUDYVERSE_FACE_DATA
  ?? path.resolve(__dirname, "../../../shared/data/face");
const HAVE_FACE_DATA = existsSync(path.join(FACE_DIR, "livelinkface_alex_rom_3.csv"));

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

function expectFrame(actual: Recording["frames"][number], py: PyFrame): void {
  expect(actual.tMs).toBe(py.t_ms);
  expect(actual.scores).toEqual(py.scores);
  expect([actual.yawDeg, actual.pitchDeg, actual.rollDeg])
    .toEqual([py.yaw_deg, py.pitch_deg, py.roll_deg]);
}

function expectSummary(rec: Recording, py: Summary): void {
  expect(rec.name).toBe(py.name);
  expect(rec.frames.length).toBe(py.frames);
  expect(rec.fps).toBe(py.fps);
  expect(rec.hasPose).toBe(py.has_pose);
  const frames = rec.frames;
  expect(frames[frames.length - 1]!.tMs - frames[0]!.tMs).toBe(py.duration_ms);
}

describe("parsers reproduce avatars.recordings on excerpts", () => {
  it.each(vectors.excerpts.map((e) => [e.file, e] as const))("%s", (file, e) => {
    const rec = parseRecording(file, e.text);
    expectSummary(rec, e);
    expect(rec.frames.length).toBeGreaterThan(10);
    rec.frames.forEach((f, i) => expectFrame(f, e.decoded[i]!));
  });

  it("the Live Link excerpt has eye movement and a blink but no head pose", () => {
    const e = vectors.excerpts.find((x) => x.file.startsWith("livelink"))!;
    const rec = parseLivelinkCsv(e.text, e.file);
    expect(rec.hasPose).toBe(false);
    const blink = Math.max(...rec.frames.map((f) => f.scores[8]!)); // eyeBlinkLeft
    expect(blink).toBeGreaterThan(0.3);
  });

  it("the LLV excerpt has a head pose", () => {
    const e = vectors.excerpts.find((x) => x.file.startsWith("llv"))!;
    const rec = parseRecording(e.file, e.text);
    expect(rec.hasPose).toBe(true);
    expect(rec.fps).toBe(60);
  });
});

describe.skipIf(!HAVE_FACE_DATA)("whole real recordings", () => {
  it.each(vectors.whole.map((w) => [w.file, w] as const))("%s", async (file, w) => {
    const rec = await parseRecordingBytes(file, new Uint8Array(readFileSync(path.join(FACE_DIR, file))));
    expectSummary(rec, w);
    for (const s of w.samples) expectFrame(rec.frames[s.index]!, s);
    for (const e of w.encoded) {
      const bytes = encodeRecordedFrame(rec.frames[e.index]!, rec.hasPose, e.seq, e.capture_ms);
      expect(hex(bytes)).toBe(e.hex);
    }
  });
});

describe("format detection and errors", () => {
  it("detects by suffix and header", () => {
    expect(recordingFormat("a.csv", "Timecode,BlendShapeCount\n")).toBe("livelink_csv");
    expect(recordingFormat("/recordings/b.CSV", "FrameNumber,SubFrame\n")).toBe("llv_csv");
    expect(recordingFormat("c.json", "{}")).toBe("mediapipe_json");
    expect(recordingFormat("d.csv", "x,y\n")).toBeNull();
    expect(recordingFormat("llv_dao.gesichter", "")).toBe("llv_gesichter");
    expect(recordingFormat("notes.md", "")).toBeNull();
    expect(() => parseRecording("d.csv", "x,y\n1,2\n")).toThrow(RecordingFormatError);
  });

  it("refuses a .gesichter that is not gzip, or not version 6", async () => {
    await expect(parseGesichter(new Uint8Array([1, 2, 3]), "x.gesichter"))
      .rejects.toThrow(RecordingFormatError);
    const { gzipSync } = await import("node:zlib");
    await expect(parseGesichter(new Uint8Array(gzipSync(Buffer.from([5, 0, 0, 0, 0]))), "x"))
      .rejects.toThrow(/version-6/);
    await expect(parseGesichter(new Uint8Array(gzipSync(Buffer.from([6, 0, 0, 0, 2]))), "x"))
      .rejects.toThrow(/truncated/);
    expect(() => parseRecording("x.gesichter", "")).toThrow(/binary/);
  });

  it("timecodes follow the Python loader", () => {
    expect(timecodeMs("00:00:01:30.000")).toBe(1500);
    expect(timecodeMs("01:02:03:00.000")).toBe(3_723_000);
    expect(() => timecodeMs("00:00:01:60.000")).toThrow(RecordingFormatError);
    expect(() => timecodeMs("00:00:01")).toThrow(RecordingFormatError);
  });

  it("a take across midnight keeps counting", () => {
    const e = vectors.excerpts.find((x) => x.file.startsWith("livelink"))!;
    const [header, ...rows] = e.text.trim().split("\n");
    const cells = (r: string, tc: string): string => [tc, ...r.split(",").slice(1)].join(",");
    const text = [header, cells(rows[0]!, "23:59:59:58.000"), cells(rows[1]!, "00:00:00:02.000")]
      .join("\n");
    const rec = parseLivelinkCsv(text, "midnight.csv");
    expect(rec.frames[1]!.tMs).toBeCloseTo(1000 * 4 / 60, 6);
  });

  it("missing columns, bad numbers, missing shapes and empty files are refused", () => {
    const e = vectors.excerpts.find((x) => x.file.startsWith("livelink"))!;
    const [header, first] = e.text.split("\n");
    expect(() => parseLivelinkCsv(header!.replace("JawOpen", "Jaw"), "x.csv"))
      .toThrow(/JawOpen/);
    expect(() => parseLivelinkCsv(`${header}\n`, "x.csv")).toThrow(/no frames/);
    const bad = first!.split(",");
    bad[5] = "oops";
    expect(() => parseLivelinkCsv(`${header}\n${bad.join(",")}\n`, "x.csv"))
      .toThrow(RecordingFormatError);
    expect(() => parseMediapipeJson('{"people": [[{"name": "jawOpen", "score": 1}]]}'))
      .toThrow(/missing blend shapes/);
    expect(() => parseMediapipeJson("{nope")).toThrow(RecordingFormatError);
    expect(() => parseMediapipeJson('{"other": 1}')).toThrow(/no 'people'/);
  });

  it("reads the tasks-vision result layout too, by name in any order", () => {
    const categories = [
      { categoryName: "_neutral", score: 1 },
      ...BLENDSHAPE_NAMES.map((n, i) => ({ categoryName: n, score: i / 100 })).reverse(),
    ];
    const rec = parseMediapipeJson(JSON.stringify({ faceBlendshapes: [{ categories }] }), "x.json");
    expect(rec.frames[0]!.scores).toEqual(BLENDSHAPE_NAMES.map((_, i) => i / 100));
    expect(rec.name).toBe("x");
  });

  it("an out-of-range pose is sent as pose-invalid instead of throwing", () => {
    const f = { tMs: 0, scores: new Array(51).fill(0.5), yawDeg: 10, pitchDeg: 95, rollDeg: 0 };
    const frame = decodeFrame(encodeRecordedFrame(f, true, 1, 2));
    expect(facePresent(frame)).toBe(true);
    expect(poseValid(frame)).toBe(false);
    expect(frame.pitchCdeg).toBe(0);
  });
});

/** A recording at `fps` with `n` frames whose jawOpen encodes the frame index. */
function synthetic(n: number, fps: number, hasPose = false): Recording {
  return {
    name: "synthetic", fps, hasPose,
    frames: Array.from({ length: n }, (_, i) => ({
      tMs: (i * 1000) / fps, scores: Array.from({ length: 51 }, (_, k) => (k === 24 ? i / 255 : 0)),
      yawDeg: hasPose ? i : 0, pitchDeg: 0, rollDeg: 0,
    })),
  };
}

/** Run the player like RecordingSource does, from `from` to `to` ms on a fake clock. */
function run(player: RecordingPlayer, from: number, to: number): { at: number; bytes: Uint8Array }[] {
  const out: { at: number; bytes: Uint8Array }[] = [];
  let now = from;
  while (now < to) {
    const bytes = player.poll(now);
    if (bytes !== null) out.push({ at: now, bytes });
    now = Math.max(now + 0.25, player.nextPollMs(now));
  }
  return out;
}

describe("RecordingPlayer pacing", () => {
  it("plays a 30 fps take at its timing, every frame once, then loops", () => {
    const player = new RecordingPlayer(synthetic(10, 30), 1000);
    const sent = run(player, 1000, 1000 + 2 * player.loopMs);
    expect(player.loopMs).toBeCloseTo(10 * 1000 / 30, 9);
    expect(sent.length).toBe(20);
    const jaw = sent.map((s) => decodeFrame(s.bytes).shapes[24]);
    expect(jaw).toEqual([...Array(10).keys(), ...Array(10).keys()]);
    sent.forEach((s, i) => {
      expect(s.at).toBeCloseTo(1000 + (i * 1000) / 30, 6);
      const f = decodeFrame(s.bytes);
      expect(f.seq).toBe(i);
      expect(f.captureMs).toBe(Math.floor(s.at));
      expect(poseValid(f)).toBe(false);
    });
  });

  it("sends a 60 fps capture at no more than 30 fps", () => {
    const player = new RecordingPlayer(synthetic(120, 60, true), 0);
    const sent = run(player, 0, 2000);
    expect(sent.length).toBeGreaterThanOrEqual(58);
    expect(sent.length).toBeLessThanOrEqual(61);
    for (let i = 1; i < sent.length; i++) {
      expect(sent[i]!.at - sent[i - 1]!.at).toBeGreaterThanOrEqual(1000 / 30 - 1);
    }
    const first = decodeFrame(sent[0]!.bytes);
    expect(poseValid(first)).toBe(true);
    const yaws = sent.map((s) => decodeFrame(s.bytes).yawCdeg);
    expect(yaws.slice(0, 5)).toEqual([0, 200, 400, 600, 800]); // every other frame
  });

  it("repeats a single-frame recording at 30 fps", () => {
    const player = new RecordingPlayer(synthetic(1, 30), 0);
    const sent = run(player, 0, 1000);
    expect(sent.length).toBeGreaterThanOrEqual(29);
    expect(sent.length).toBeLessThanOrEqual(31);
  });

  it("a hidden face sends face-present=0 frames at 2 Hz, and playback resumes on show", () => {
    const player = new RecordingPlayer(synthetic(30, 30), 0);
    run(player, 0, 500);
    player.setFaceHidden(true);
    const hidden = run(player, 500, 3000);
    expect(hidden.map((s) => s.at)).toEqual([500, 1000, 1500, 2000, 2500]);
    for (const s of hidden) {
      const f = decodeFrame(s.bytes);
      expect(f.flags & FLAG_FACE).toBe(0);
      expect(f.quality).toBe(0);
    }
    player.setFaceHidden(false);
    const shown = run(player, 3000, 3100);
    expect(shown.length).toBeGreaterThan(1);
    expect(facePresent(decodeFrame(shown[0]!.bytes))).toBe(true);
    // playback time ran on while hidden: 3000 ms into a 1000 ms loop is frame 0 of loop 3
    expect(player.position(3000)).toEqual({ loop: 3, index: 0 });
    const seqs = [...hidden, ...shown].map((s) => decodeFrame(s.bytes).seq);
    seqs.forEach((q, i) => i > 0 && expect(q).toBe(seqs[i - 1]! + 1));
  });

  it("refuses an empty recording", () => {
    expect(() => new RecordingPlayer({ name: "e", fps: 0, hasPose: false, frames: [] }, 0))
      .toThrow(RangeError);
  });
});

describe("RecordingSource", () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it("loads over fetch and streams frames on timers until stopped", async () => {
    const e = vectors.excerpts.find((x) => x.file.startsWith("llv"))!;
    vi.stubGlobal("fetch", vi.fn(async (url: string) => new Response(e.text, {
      status: url.endsWith(e.file) ? 200 : 404 })));
    await expect(RecordingSource.load("/recordings/none.csv")).rejects.toThrow(/404/);
    const loaded = await RecordingSource.load(`/recordings/${e.file}`);
    expect(loaded.recording.frames.length).toBe(e.frames);
    vi.useFakeTimers();
    const source = new RecordingSource(loaded.recording, () => Date.now());
    const got: Uint8Array[] = [];
    source.start((b) => got.push(b));
    vi.advanceTimersByTime(1000);
    // rows 0..8 of the capture (0..133 ms at 60 fps: about every other one at the 30 fps cap,
    // the fake clock has whole ms), then row 38 at 633 ms
    expect(got.length).toBeGreaterThanOrEqual(6);
    expect(got.length).toBeLessThanOrEqual(8);
    const captures = got.map((b) => decodeFrame(b).captureMs);
    for (let i = 1; i < captures.length; i++) {
      expect(captures[i]! - captures[i - 1]!).toBeGreaterThanOrEqual(32);
    }
    source.setFaceHidden(true);
    const before = got.length;
    vi.advanceTimersByTime(1999);
    const hidden = got.slice(before).map((b) => decodeFrame(b));
    expect(hidden.length).toBe(4);
    expect(hidden.every((f) => !facePresent(f))).toBe(true);
    source.stop();
    expect(source.running).toBe(false);
    const after = got.length;
    vi.advanceTimersByTime(5000);
    expect(got.length).toBe(after);
  });
});

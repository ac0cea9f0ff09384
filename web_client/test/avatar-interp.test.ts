/**
 * Snapshot interpolation (src/avatar/interp.ts) on a fake clock: placement of capture
 * times on the local clock, blending between the two frames around now - delay, holding,
 * resets on gaps and new streams, reordering, wrap of seq and capture time.
 */

import { describe, expect, it } from "vitest";
import { SHAPE_INDEX } from "../src/blendshapes";
import { decodeFrame, encodeFrame, encodeNoFaceFrame, type Frame } from "../src/frame";
import {
  captureDeltaMs, INTERP_DELAY_MS, lerpAngleDeg, MAX_SNAPSHOTS, SnapshotBuffer,
} from "../src/avatar/interp";

const JAW = SHAPE_INDEX.get("jawOpen")!;

/** A face frame whose jawOpen score is `jaw` (0..1) and yaw `yaw` degrees. */
function face(seq: number, captureMs: number, jaw = 0, yaw = 0, pose = true): Frame {
  const scores = new Array<number>(51).fill(0);
  scores[JAW] = jaw;
  return decodeFrame(encodeFrame({
    seq, captureMs, scores, yawDeg: yaw, pitchDeg: yaw / 2, rollDeg: -yaw, poseValid: pose,
  }));
}

const noFace = (seq: number, captureMs: number): Frame =>
  decodeFrame(encodeNoFaceFrame(seq, captureMs));

/** Feed frames every `periodMs` from capture 0 arriving with `latency(i)`; returns the buffer. */
function stream(n: number, periodMs: number, latency: (i: number) => number,
                jaw: (i: number) => number, start = 1000): SnapshotBuffer {
  const buf = new SnapshotBuffer();
  for (let i = 0; i < n; i++) buf.push(face(i, i * periodMs, jaw(i)), start + i * periodMs + latency(i));
  return buf;
}

describe("SnapshotBuffer", () => {
  it("is empty until the first frame", () => {
    expect(new SnapshotBuffer().sample(0)).toBeNull();
  });

  it("shows a lone first frame at once and holds it", () => {
    const buf = new SnapshotBuffer();
    expect(buf.push(face(0, 5000, 0.4), 100)).toBe("added");
    for (const t of [100, 150, 10_000]) {
      expect(buf.sample(t)!.weights[JAW]).toBeCloseTo(0.4, 2);
    }
  });

  it("renders delayMs behind, blending linearly between the frames around that time", () => {
    // 10 Hz, constant 40 ms latency, jawOpen ramps 0, 0.1, 0.2, ...
    const buf = stream(10, 100, () => 40, (i) => i / 10);
    expect(buf.delayMs).toBe(INTERP_DELAY_MS);
    // frame i arrived at 1040 + 100 i; its local time is 1040 + 100 i (first frame's arrival)
    expect(buf.localTimes()[0]).toBe(1040);
    // now = 1040 + 350 + 100: render time 1390 is halfway between frames 3 and 4
    const s = buf.sample(1040 + 350 + INTERP_DELAY_MS)!;
    expect(s.weights[JAW]).toBeCloseTo(0.35, 2);
    expect(s.yawDeg).toBe(0);
    expect(s.seq).toBe(3);
    const quarter = buf.sample(1040 + 525 + INTERP_DELAY_MS)!;
    expect(quarter.weights[JAW]).toBeCloseTo(0.525, 2);
  });

  it("is smooth under jitter: render-time steps never jump more than the data allows", () => {
    // 20 Hz with 0..45 ms jitter (deterministic; less than one period, as the 100 ms delay
    // is meant to absorb), jaw = sin
    const jitter = (i: number): number => ((i * 37) % 46);
    const jaw = (i: number): number => 0.5 + 0.4 * Math.sin(i / 5);
    const buf = new SnapshotBuffer();
    const values: number[] = [];
    let i = 0;
    for (let now = 1000; now < 4000; now += 16) {
      while (i < 60 && 1000 + i * 50 + jitter(i) <= now) {
        buf.push(face(i, i * 50, jaw(i)), 1000 + i * 50 + jitter(i));
        i++;
      }
      values.push(buf.sample(now)!.weights[JAW]!);
    }
    const steps = values.slice(1).map((v, k) => Math.abs(v - values[k]!));
    // the signal moves at most 0.4 / 5 per 50 ms frame, 0.026 per 16 ms; holding frames
    // instead would jump by up to 0.08
    expect(Math.max(...steps)).toBeLessThan(0.035);
  });

  it("holds the newest frame when the buffer runs dry, and resumes", () => {
    const buf = stream(5, 100, () => 20, (i) => i / 10);
    expect(buf.sample(5000)!.weights[JAW]).toBeCloseTo(0.4, 2);
    // the stream resumes within the reset gap: blended again
    buf.push(face(5, 500, 0.5), 5000);
    expect(buf.resets).toBe(0);
    expect(buf.size).toBe(2);
  });

  it("restarts on a big capture gap and on a new stream, counting resets", () => {
    const buf = stream(3, 100, () => 20, () => 0.2);
    expect(buf.push(face(3, 200 + 5000, 0.9), 9000)).toBe("reset");
    expect(buf.resets).toBe(1);
    expect(buf.size).toBe(1);
    expect(buf.sample(9000)!.weights[JAW]).toBeCloseTo(0.9, 2); // shown at once
    // a sender that restarted: seq back to 0, its clock elsewhere
    expect(buf.push(face(0, 123, 0.1), 9100)).toBe("reset");
    expect(buf.resets).toBe(2);
    // a clock that went backwards by more than the gap
    buf.push(face(1, 223, 0.1), 9200);
    expect(buf.push(face(2, 223 - 3000, 0.1), 9300)).toBe("reset");
  });

  it("drops duplicates and frames that arrive out of order", () => {
    const buf = new SnapshotBuffer();
    buf.push(face(10, 1000, 0.1), 0);
    buf.push(face(12, 1066, 0.3), 70);
    expect(buf.push(face(11, 1033, 0.2), 75)).toBe("dropped");
    expect(buf.push(face(12, 1066, 0.3), 80)).toBe("dropped");
    expect(buf.dropped).toBe(2);
    expect(buf.size).toBe(2);
    // contradictory: newer seq, older capture time -> a new stream
    expect(buf.push(face(13, 900, 0.3), 90)).toBe("reset");
  });

  it("signed capture deltas across the u32 wrap", () => {
    expect(captureDeltaMs(5, 2 ** 32 - 5)).toBe(10);
    expect(captureDeltaMs(2 ** 32 - 5, 5)).toBe(-10);
    expect(captureDeltaMs(100, 40)).toBe(60);
  });

  it("follows seq and capture-time wrap without a reset", () => {
    const buf = new SnapshotBuffer();
    const c0 = 2 ** 32 - 150;
    for (let i = 0; i < 6; i++) {
      const r = buf.push(face((65_533 + i) & 0xffff, (c0 + i * 50) % 2 ** 32, i / 10), 1000 + i * 50);
      expect(r).toBe("added");
    }
    expect(buf.resets).toBe(0);
    expect(buf.localTimes()).toEqual([1000, 1050, 1100, 1150, 1200, 1250]);
    expect(buf.sample(1225 + INTERP_DELAY_MS)!.weights[JAW]).toBeCloseTo(0.45, 2);
  });

  it("places frames by the least-delayed arrival, and lets the estimate creep up", () => {
    const buf = new SnapshotBuffer({ creep: 0.01 });
    buf.push(face(0, 0), 1100); // waited 100 ms
    buf.push(face(1, 100), 1130); // waited 30 ms less
    expect(buf.localTimes()).toEqual([1030, 1130]);
    // a path 200 ms slower from now on: the estimate rises 1 % of elapsed time per frame
    buf.push(face(2, 200), 1430);
    expect(buf.localTimes()[2]).toBeCloseTo(1230 + 3, 6);
  });

  it("never fades a face into a no-face frame; pose likewise", () => {
    const buf = new SnapshotBuffer();
    buf.push(face(0, 0, 0.8, 20), 0);
    buf.push(noFace(1, 100), 100);
    const mid = buf.sample(50 + INTERP_DELAY_MS)!;
    expect(mid.weights[JAW]).toBeCloseTo(0.8, 2);
    expect(mid.face).toBe(true);
    const after = buf.sample(100 + INTERP_DELAY_MS)!;
    expect(after.face).toBe(false);

    const posed = new SnapshotBuffer();
    posed.push(face(0, 0, 0, 20), 0);
    posed.push(face(1, 100, 1, 40, false), 100);
    const half = posed.sample(50 + INTERP_DELAY_MS)!;
    expect(half.yawDeg).toBe(20); // held: the newer frame has no pose
    expect(half.weights[JAW]).toBeCloseTo(0.5, 2); // shapes still blend
  });

  it("blends pose angles, yaw and roll the short way round", () => {
    const buf = new SnapshotBuffer();
    buf.push(face(0, 0, 0, 170), 0);
    buf.push(face(1, 100, 0, -170), 100);
    const s = buf.sample(50 + INTERP_DELAY_MS)!;
    expect(Math.abs(s.yawDeg)).toBeCloseTo(180, 6);
    expect(s.pitchDeg).toBeCloseTo(0, 6); // 85 -> -85 linearly
    expect(lerpAngleDeg(10, 30, 0.25)).toBe(15);
    expect(lerpAngleDeg(-170, 170, 0.25)).toBe(-175);
    expect(lerpAngleDeg(179, -179, 0.75)).toBeCloseTo(-179.5, 9);
  });

  it("keeps a bounded buffer and forgets on clear", () => {
    const buf = new SnapshotBuffer();
    for (let i = 0; i < 100; i++) buf.push(face(i, i * 10), i * 10);
    expect(buf.size).toBeLessThanOrEqual(MAX_SNAPSHOTS);
    buf.sample(990);
    expect(buf.size).toBeLessThanOrEqual(11); // older than render time - one frame dropped
    buf.clear();
    expect(buf.sample(2000)).toBeNull();
    expect(buf.push(face(0, 0), 3000)).toBe("added");
  });
});

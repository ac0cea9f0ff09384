import { describe, expect, it } from "vitest";
import { NO_FACE_INTERVAL_MS, FramePacer } from "../src/face";
import { decodeFrame, facePresent } from "../src/frame";
import raw from "./vectors/frames.json";

const categories = (raw as unknown as {
  landmarker_results: { categories: { categoryName: string; score: number }[] }[];
}).landmarker_results[0]!.categories;
const face = { faceBlendshapes: [{ categories }] };
const noFace = { faceBlendshapes: [] };

describe("FramePacer", () => {
  it("sends a frame per face and a no-face frame at most every 500 ms", () => {
    const pacer = new FramePacer();
    const sent: [number, boolean, number][] = [];
    const times = [0, 33.4, 66.7, 100, 133, 166, 400, 599.9, 600, 1099, 1100.2, 1133, 1166];
    const faces = [true, true, false, false, false, false, false, false, false, false, false,
      true, false];
    times.forEach((t, i) => {
      const bytes = pacer.frameFor(faces[i] ? face : noFace, t);
      if (bytes !== null) {
        const f = decodeFrame(bytes);
        sent.push([f.seq, facePresent(f), f.captureMs]);
      }
    });
    expect(sent).toEqual([
      [0, true, 0], [1, true, 33],
      [2, false, 66], // face lost: one at once...
      [3, false, 599], // ...then every 500 ms
      [4, false, 1100],
      [5, true, 1133], [6, false, 1166], // a new loss starts a new cadence
    ]);
    expect(NO_FACE_INTERVAL_MS).toBe(500);
  });

  it("wraps the sequence number", () => {
    const pacer = new FramePacer();
    let last = -1;
    for (let i = 0; i < 65_537; i++) last = decodeFrame(pacer.frameFor(face, i)!).seq;
    expect(last).toBe(0);
  });
});

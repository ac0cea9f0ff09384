import { describe, expect, it } from "vitest";
import { estimateClock, serverTime } from "../src/clock";

describe("estimateClock", () => {
  it("keeps the sample with the smallest round trip", () => {
    const est = estimateClock([
      { sentMs: 1000, receivedMs: 1300, serverMs: 5000 }, // rtt 300
      { sentMs: 2000, receivedMs: 2020, serverMs: 6010 }, // rtt 20: offset 6010 - 2010
      { sentMs: 3000, receivedMs: 3100, serverMs: 7000 },
    ]);
    expect(est).toEqual({ offsetMs: 4000, rttMs: 20, samples: 3 });
    expect(serverTime(est, 10_000)).toBe(14_000);
  });

  it("keeps the first of equal round trips and handles a server behind the client", () => {
    const est = estimateClock([
      { sentMs: 100, receivedMs: 110, serverMs: 50 },
      { sentMs: 200, receivedMs: 210, serverMs: 999 },
    ]);
    expect(est.offsetMs).toBe(-55);
  });

  it("refuses no samples and acks that arrive before they were sent", () => {
    expect(() => estimateClock([])).toThrow(RangeError);
    expect(() => estimateClock([{ sentMs: 10, receivedMs: 9, serverMs: 0 }])).toThrow(RangeError);
    expect(() => estimateClock([{ sentMs: 10, receivedMs: Number.NaN, serverMs: 0 }]))
      .toThrow(RangeError);
  });
});

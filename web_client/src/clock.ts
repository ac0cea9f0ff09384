/**
 * Clock offset from `time_sync` samples (DESIGN.md section 3): the client keeps the sample
 * with the smallest round trip, whose midpoint estimate is the tightest (NTP's rule).
 * Pure: the caller supplies every time.
 */

/** One `time_sync` exchange: local epoch ms when sent and when the ack arrived, and the
 * server's epoch ms in the ack. */
export interface SyncSample {
  readonly sentMs: number;
  readonly receivedMs: number;
  readonly serverMs: number;
}

/** A clock estimate: serverMs ~= localMs + offsetMs, within +-rttMs / 2. */
export interface ClockEstimate {
  readonly offsetMs: number;
  readonly rttMs: number;
  readonly samples: number;
}

/** The estimate from the min-RTT sample: offset = server - (sent + received) / 2.
 * Throws RangeError for no samples or a sample whose ack arrived before it was sent. */
export function estimateClock(samples: readonly SyncSample[]): ClockEstimate {
  let best: SyncSample | undefined;
  for (const s of samples) {
    if (!(s.receivedMs >= s.sentMs)) {
      throw new RangeError(`time_sync sample received before it was sent: ${JSON.stringify(s)}`);
    }
    if (best === undefined || s.receivedMs - s.sentMs < best.receivedMs - best.sentMs) best = s;
  }
  if (best === undefined) throw new RangeError("no time_sync samples");
  return {
    offsetMs: best.serverMs - (best.sentMs + best.receivedMs) / 2,
    rttMs: best.receivedMs - best.sentMs,
    samples: samples.length,
  };
}

/** The server's epoch ms now, given a local epoch ms reading. */
export function serverTime(estimate: ClockEstimate, localMs: number): number {
  return localMs + estimate.offsetMs;
}

/** A local epoch-ms clock that never runs backwards (performance.timeOrigin + now()), so
 * wall-clock steps between samples do not skew round trips. */
export function localEpochMs(): number {
  return performance.timeOrigin + performance.now();
}

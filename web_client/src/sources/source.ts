/**
 * A face source that plays a real face recording instead of the camera: the same 72-byte
 * frames as src/face.ts, at the recording's timing (at most 30 fps, looped), from a file the
 * server lists at `/recordings/` (game_server/web_build.py). `setFaceHidden(true)` simulates
 * a face that left the camera (face-present=0 frames at 2 Hz), so the server's attention
 * rules see "no face" and, after their threshold, `distracted`.
 *
 *   const source = await RecordingSource.load("/recordings/livelinkface_alex_rom_3.csv");
 *   source.start((bytes) => socket.sendFrame(bytes));
 */

import { RecordingPlayer } from "./player";
import { parseRecordingBytes, RecordingFormatError, type Recording } from "./recording";

/** Where the server lists and serves the face recordings. */
export const RECORDINGS_PATH = "/recordings/";

/** One entry of `GET /recordings/`. */
export interface RecordingListing {
  name: string;
  format: string;
  frames: number;
  duration_s: number;
}

/** The recordings the server offers. Throws Error for a non-2xx answer. */
export async function listRecordings(base = RECORDINGS_PATH): Promise<RecordingListing[]> {
  const resp = await fetch(base);
  if (!resp.ok) throw new Error(`GET ${base}: HTTP ${resp.status}`);
  const body = (await resp.json()) as { recordings: RecordingListing[] };
  return body.recordings;
}

export class RecordingSource {
  private player: RecordingPlayer | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private hidden = false;

  /** `now`: the monotonic clock in ms (performance.now by default, as the camera path). */
  constructor(readonly recording: Recording,
              private readonly now: () => number = () => performance.now()) {}

  /** Fetch and parse a recording (Live Link CSV, LLV `.gesichter` or decoded CSV, MediaPipe
   * JSON). Throws Error for an HTTP error and RecordingFormatError for a file it cannot
   * read. */
  static async load(url: string): Promise<RecordingSource> {
    const resp = await fetch(url);
    if (!resp.ok) throw new Error(`GET ${url}: HTTP ${resp.status}`);
    const bytes = new Uint8Array(await resp.arrayBuffer());
    const recording = await parseRecordingBytes(
      decodeURIComponent(new URL(url, "http://x/").pathname), bytes);
    if (recording.frames.length === 0) throw new RecordingFormatError(`${url}: no frames`);
    return new RecordingSource(recording);
  }

  /** Start playing from the recording's first frame; every frame to send goes to `onFrame`.
   * A running playback is restarted. */
  start(onFrame: (bytes: Uint8Array) => void): void {
    this.stop();
    const player = new RecordingPlayer(this.recording, this.now());
    player.setFaceHidden(this.hidden);
    this.player = player;
    const tick = (): void => {
      if (this.player !== player) return;
      const now = this.now();
      const bytes = player.poll(now);
      if (bytes !== null) onFrame(bytes);
      const wait = Math.max(1, player.nextPollMs(this.now()) - this.now());
      this.timer = setTimeout(tick, wait);
    };
    tick();
  }

  /** Stop sending frames. */
  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.player = null;
  }

  /** Simulate the face leaving (true) or coming back to (false) the camera. */
  setFaceHidden(hidden: boolean): void {
    this.hidden = hidden;
    this.player?.setFaceHidden(hidden);
  }

  get running(): boolean {
    return this.player !== null;
  }
}

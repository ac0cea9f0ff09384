/// <reference types="node" />
/**
 * The slice end to end against a running server (skipped unless STUDYVERSE_LIVE_URL is
 * set; tests/test_web_client.py sets it to a test server): two guests sign in, sync their
 * clocks, one creates a room and the other joins it by invite code, the second streams real
 * recorded frames, and the first sees it join, its frames and its attention. Runs the
 * client's own modules in Node (socket.io-client over `ws`, where notepack.io sends frames
 * as msgpack ext type 0, which the server accepts alongside the browser's `bin`).
 */

import { afterEach, describe, expect, it } from "vitest";
import { facePresent } from "../src/frame";
import type { RoomView } from "../src/room";
import { StudySession } from "../src/session";
import raw from "./vectors/frames.json";

const BASE = process.env.STUDYVERSE_LIVE_URL ?? "";
const TIMEOUT_MS = 15_000;
const recorded = (raw as unknown as { frames: { source: string; hex: string }[] }).frames
  .filter((v) => v.source.startsWith("llv_dao.gesichter"))
  .map((v) => Uint8Array.from(v.hex.match(/../g)!, (b) => parseInt(b, 16)));

function until(session: StudySession, test: (view: RoomView) => boolean): Promise<RoomView> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`condition not met within ${TIMEOUT_MS} ms`));
    }, TIMEOUT_MS);
    const stop = session.subscribe((event) => {
      if (event.kind === "room" && test(event.view)) {
        clearTimeout(timer);
        stop();
        resolve(event.view);
      }
    });
  });
}

const sessions: StudySession[] = [];
afterEach(() => {
  for (const s of sessions.splice(0)) s.close();
});

describe.skipIf(!BASE)("against a running server", () => {
  it("signs in, joins, and shows members, frames and attention", async () => {
    const ada = await StudySession.start("Ada", BASE);
    const bo = await StudySession.start("Bo", BASE);
    sessions.push(ada, bo);
    for (const s of [ada, bo]) {
      expect(s.clockEstimate?.samples).toBe(5);
      expect(s.clockEstimate!.rttMs).toBeGreaterThanOrEqual(0);
      expect(Math.abs(s.clockEstimate!.offsetMs)).toBeLessThan(1000); // same machine
      expect(Math.abs(s.serverNow() - Date.now())).toBeLessThan(1000);
    }

    const { view: mine, room } = await ada.createAndJoin("Slice room", 3);
    expect(mine).toMatchObject({ roomId: room.room_id, name: "Slice room", capacity: 3 });
    expect(mine.mySlot).not.toBeNull();
    const seesBo = until(ada, (v) => [...v.members.values()].some((m) => m.display_name === "Bo"));
    const theirs = await bo.joinByIdOrInvite(room.invite_code.toLowerCase());
    expect(theirs.roomId).toBe(room.room_id);
    expect(theirs.members.size).toBe(2);
    const boSlot = theirs.mySlot!;
    expect((await seesBo).members.get(boSlot)?.attention).toBe("idle");

    // Bo streams a real recording at ~30 fps until Ada sees its frames and focus
    const focused = until(ada, (v) => v.members.get(boSlot)?.attention === "focused"
      && v.frames.has(boSlot));
    let i = 0;
    const pump = setInterval(() => bo.sendFrame(recorded[i++ % recorded.length]!), 33);
    try {
      const seen = await focused;
      const latest = seen.frames.get(boSlot)!;
      expect(facePresent(latest.frame)).toBe(true);
      expect(latest.serverMs).toBeGreaterThan(0);
      expect(seen.members.get(boSlot)?.sinceMs).toBeGreaterThan(0);
      expect(seen.badFrames).toBe(0);
      expect(seen.frames.has(seen.mySlot!)).toBe(false); // never one's own frames
    } finally {
      clearInterval(pump);
    }

    // the owner runs the timer: both views get the same absolute end; a member may not
    const boTimer = until(bo, (v) => v.timer.phase === "focus");
    const started = await ada.startTimer({ focus_min: 25, break_min: 5 });
    expect(started).toMatchObject({ phase: "focus", cycle: 1 });
    expect((await boTimer).timer.phase_ends_ms).toBe(started.phase_ends_ms);
    expect(ada.room?.timer.phase_ends_ms).toBe(started.phase_ends_ms);
    expect(started.phase_ends_ms! - started.phase_started_ms!).toBe(25 * 60_000);
    await expect(bo.timerCommand("timer_pause")).rejects.toMatchObject({ code: "forbidden" });
    const boPaused = until(bo, (v) => v.timer.paused_at_ms !== null);
    const paused = await ada.timerCommand("timer_pause");
    expect((await boPaused).timer.paused_at_ms).toBe(paused.paused_at_ms);

    // chat: the sender's view has its acked message, the other gets chat_message
    const adaHears = until(ada, (v) => v.messages.some((m) => m.text === "hi from Bo"));
    const sent = await bo.sendChat("hi from Bo");
    expect(sent).toMatchObject({ text: "hi from Bo", display_name: "Bo" });
    expect(bo.room?.messages.map((m) => m.id)).toEqual([sent.id]);
    expect((await adaHears).messages.map((m) => m.id)).toEqual([sent.id]);
    // fewer than a room_state's 50 messages: nothing older to page back to
    expect(ada.room?.olderBefore).toBeNull();
    expect(await ada.loadOlderMessages()).toBe(false);
    const stopped = await ada.timerCommand("timer_stop");
    expect(stopped.phase).toBe("idle");

    // Bo's transport drops: its client reconnects by itself and resumes the slot
    const resumed = new Promise<string>((resolve) => {
      const stop = bo.subscribe((event) => {
        if (event.kind === "status" && event.text.startsWith("reconnected")) {
          stop();
          resolve(event.text);
        }
      });
    });
    const backOnline = until(ada, (v) => v.members.get(boSlot)?.connected === false)
      .then(() => until(ada, (v) => v.members.get(boSlot)?.connected === true));
    bo.socket.socket.io.engine.close();
    expect(await resumed).toBe("reconnected, slot resumed");
    expect(bo.room?.mySlot).toBe(boSlot);
    await backOnline;

    const left = until(ada, (v) => !v.members.has(boSlot));
    await bo.socket.leaveRoom();
    await left;

    // Ada joins again from a second connection: the first is taken over and stays off
    // (no automatic reconnect taking the slot back; see disconnectIsFinal)
    const events: string[] = [];
    ada.subscribe((e) => {
      if (e.kind === "status" || e.kind === "error") events.push(e.kind === "status" ? e.text : e.error.code);
    });
    const adaAgain = await StudySession.connect(ada.api, { token: () => ada.guest.access_token,
      session: ada.guest }, BASE);
    sessions.push(adaAgain);
    expect((await adaAgain.join(room.room_id)).mySlot).toBe(mine.mySlot);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(events).toEqual(["conflict", "disconnected: this account joined from another tab or device"]);
    expect(ada.socket.connected).toBe(false);
    expect(adaAgain.socket.connected).toBe(true);
  }, 30_000);
});

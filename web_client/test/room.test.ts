import { describe, expect, it } from "vitest";
import { encodeBatch, encodeFrame, encodeNoFaceFrame } from "../src/frame";
import type { RoomState, TimerState } from "../src/protocol";
import {
  MAX_MESSAGES, bossChanged, changedBesidesFrames, chatReceived, decodeFrames, framesDecoded, framesReceived,
  fromJoinAck, fromReplay, fromRoomState, ghostRaceChanged, memberJoined, memberLeft,
  memberState, membersBySlot, olderMessages, spectatorsChanged, timerChanged,
} from "../src/room";
import { describeRoom, describeTimer, formatDuration } from "../src/view";

const IDLE: TimerState = {
  phase: "idle", cycle: 0, cycles: 0, phase_started_ms: null, phase_ends_ms: null,
  paused_at_ms: null, durations: null,
};

function state(overrides: Partial<RoomState> = {}): RoomState {
  return {
    room_id: "r1", name: "Deep work", capacity: 5, owner_id: "u1",
    members: [
      { slot: 0, user_id: "u1", display_name: "Ada", kind: "live", attention: "focused", connected: true },
      { slot: 2, user_id: "u2", display_name: "Bo", kind: "live", attention: "idle", connected: false },
    ],
    spectators: 1, timer: IDLE, boss: null, server_ms: 1_000, ...overrides,
  };
}

const scores = new Array<number>(51).fill(0.5);

describe("room view", () => {
  it("follows the spectator count", () => {
    const v0 = fromJoinAck({ room: state(), slot: 0, resume_token: "t", resumed: false });
    const v1 = spectatorsChanged(v0, { count: v0.spectators + 2 });
    expect(v1.spectators).toBe(v0.spectators + 2);
    expect(spectatorsChanged(v1, { count: v1.spectators })).toBe(v1);
    expect(changedBesidesFrames(v0, v1)).toBe(true);
  });

  it("starts from the join ack and follows member events without mutating", () => {
    const v0 = fromJoinAck({ room: state(), slot: 0, resume_token: "t", resumed: false });
    expect(v0.mySlot).toBe(0);
    expect(membersBySlot(v0).map((m) => [m.slot, m.display_name, m.attention]))
      .toEqual([[0, "Ada", "focused"], [2, "Bo", "idle"]]);

    const v1 = memberJoined(v0, { slot: 1, user_id: "u3", display_name: "Cy", kind: "ghost" });
    expect(v0.members.size).toBe(2);
    expect(v1.members.get(1)).toMatchObject({ kind: "ghost", attention: "idle", connected: true });

    const v2 = memberState(v1, { slot: 2, attention: "distracted", since_ms: 500, connected: true });
    expect(v2.members.get(2)).toMatchObject({ attention: "distracted", sinceMs: 500, connected: true });
    expect(v1.members.get(2)?.attention).toBe("idle");
    expect(memberState(v2, { slot: 9, attention: "focused", since_ms: 1 })).toBe(v2);

    const v3 = memberLeft(v2, { slot: 2, user_id: "u2", display_name: "Bo", kind: "live" });
    expect([...v3.members.keys()].sort()).toEqual([0, 1]);
    expect(memberLeft(v3, { slot: 2, user_id: "u2", display_name: "Bo", kind: "live" })).toBe(v3);

    const timer: TimerState = { ...IDLE, phase: "focus", cycle: 1, cycles: 4,
      phase_started_ms: 0, phase_ends_ms: 1_500_000 };
    expect(timerChanged(v3, timer).timer).toBe(timer);
  });

  it("keeps the newest frame per slot and counts what does not decode", () => {
    const v0 = fromRoomState(state(), null, 0);
    const f1 = encodeFrame({ seq: 1, captureMs: 10, scores, yawDeg: 12.5 });
    const f2 = encodeFrame({ seq: 2, captureMs: 20, scores, yawDeg: -3 });
    const v1 = framesReceived(v0, encodeBatch(100, [[2, f1]]).buffer);
    const v2 = framesReceived(v1, encodeBatch(133, [[2, f2], [0, encodeNoFaceFrame(5, 6)]]));
    expect(v2.frames.get(2)).toMatchObject({ serverMs: 133, frame: { seq: 2, yawCdeg: -300 } });
    expect(v2.frames.get(0)?.frame.flags).toBe(0);
    expect(v1.frames.get(2)?.frame.seq).toBe(1);

    const broken = encodeBatch(1, [[2, f1]]);
    broken[11] = 0x00; // the entry's kind byte
    const v3 = framesReceived(v2, broken);
    expect(v3.badFrames).toBe(1);
    expect(v3.frames.get(2)?.frame.seq).toBe(2);
    expect(framesReceived(v3, new Uint8Array([0xb1])).badFrames).toBe(2);

    // a fresh RoomState keeps frames of members still present, forgets the others
    const v4 = fromRoomState(state({ members: [state().members[1]!] }), v3);
    expect([...v4.frames.keys()]).toEqual([2]);
    expect(v4.mySlot).toBe(0);
    expect(memberLeft(v3, { slot: 2, user_id: "u2", display_name: "Bo", kind: "live" })
      .frames.has(2)).toBe(false);
  });
});

describe("text view", () => {
  it("formats durations and the timer on the server clock", () => {
    expect(formatDuration(0)).toBe("0:00");
    expect(formatDuration(61_001)).toBe("1:02");
    expect(formatDuration(-5)).toBe("0:00");
    const v = fromRoomState(state(), null, 0);
    expect(describeTimer(v, 0)).toBe("timer: idle");
    const running = timerChanged(v, { ...IDLE, phase: "focus", cycle: 1, cycles: 4,
      phase_started_ms: 0, phase_ends_ms: 1_500_000 });
    expect(describeTimer(running, 1_440_000)).toBe("timer: focus 1/4, 1:00 left");
    const paused = timerChanged(v, { ...running.timer, paused_at_ms: 1_200_000 });
    expect(describeTimer(paused, 1_440_000)).toBe("timer: focus 1/4, 5:00 left (paused)");
  });

  it("lists members with their attention, connection and newest frame", () => {
    let v = fromRoomState(state(), null, 0);
    v = memberState(v, { slot: 0, attention: "looking_away", since_ms: 10_000 });
    v = framesReceived(v, encodeBatch(1, [[0, encodeFrame({ seq: 7, captureMs: 1, scores,
      yawDeg: 31.25, pitchDeg: -4 })]]));
    expect(describeRoom(v, 75_000)).toEqual([
      "Deep work (2/5 members, 1 watching)",
      "timer: idle",
      "#0 Ada (you) - looking_away for 1:05 [frame 7: yaw 31.3 pitch -4.0]",
      "#2 Bo - idle [disconnected]",
    ]);
  });
});

describe("room view: boss, chat, ghosts, replays", () => {
  const msg = (id: string, sent: number, text = id) => ({ id, user_id: "u1",
    display_name: "Ada", text, sent_ms: sent });

  it("keeps chat unique and oldest first, and pages back with the cursor", () => {
    const fifty = Array.from({ length: 50 }, (_, i) => msg(`m${i + 10}`, 1000 + i));
    const v0 = fromRoomState(state({ messages: fifty }), null, 0);
    expect(v0.messages.map((m) => m.id).slice(0, 2)).toEqual(["m10", "m11"]);
    expect(v0.olderBefore).toBe("m10"); // a full room_state page: there may be more
    const few = fromRoomState(state({ messages: [msg("a", 1)] }), null, 0);
    expect(few.olderBefore).toBeNull(); // fewer than 50: that is the whole history

    const v1 = chatReceived(v0, msg("new", 5000));
    expect(v1.messages.at(-1)?.id).toBe("new");
    expect(chatReceived(v1, msg("new", 5000))).toBe(v1); // the ack and the event: once
    expect(v0.messages).toHaveLength(50);

    const v2 = olderMessages(v1, { messages: [msg("m9", 999), msg("m8", 998)], next_before: "m8" });
    expect(v2.messages.slice(0, 3).map((m) => m.id)).toEqual(["m8", "m9", "m10"]);
    expect(v2.olderBefore).toBe("m8");
    const v3 = olderMessages(v2, { messages: [], next_before: null });
    expect(v3.olderBefore).toBeNull();
    expect(v3.messages).toHaveLength(53);

    // a later room_state (rejoin) merges and keeps the paging cursor
    const v4 = fromRoomState(state({ messages: [msg("new", 5000), msg("newer", 6000)] }), v3);
    expect(v4.messages).toHaveLength(54);
    expect(v4.olderBefore).toBeNull();
    // another room starts over
    expect(fromRoomState(state({ room_id: "r2", messages: [] }), v4).messages).toEqual([]);
  });

  it("caps live chat at MAX_MESSAGES", () => {
    let v = fromRoomState(state(), null, 0);
    for (let i = 0; i < MAX_MESSAGES + 5; i++) v = chatReceived(v, msg(`x${i}`, i));
    expect(v.messages).toHaveLength(MAX_MESSAGES);
    expect(v.messages[0]?.id).toBe("x5");
  });

  it("follows the boss and the ghost race", () => {
    const boss = { level: 1, name: "Sloth", hp: 100, max_hp: 200, dps: 1, combo: 1, rage: false };
    const race = [{ slot: 4, recording_id: "rec", ghost_focused_s: 10, room_focused_s: 12, ahead_s: 2 }];
    const v0 = fromRoomState(state({ boss, ghosts: race }), null, 0);
    expect(v0.boss).toEqual(boss);
    expect(v0.ghostRace).toEqual(race);
    const v1 = bossChanged(v0, { ...boss, hp: 50 });
    expect(v1.boss?.hp).toBe(50);
    expect(bossChanged(v1, null).boss).toBeNull();
    expect(ghostRaceChanged(v1, []).ghostRace).toEqual([]);
    // a room_state without `ghosts` keeps the race
    expect(fromRoomState(state({ boss: null }), v1).ghostRace).toEqual(race);
  });

  it("tells frame-only updates from the rest", () => {
    const v0 = fromRoomState(state(), null, 0);
    const v1 = framesReceived(v0, encodeBatch(1, [[2, encodeFrame({ seq: 1, captureMs: 1, scores })]]));
    expect(changedBesidesFrames(v0, v1)).toBe(false);
    expect(changedBesidesFrames(v1, memberState(v1, { slot: 2, attention: "focused", since_ms: 1 })))
      .toBe(true);
    expect(changedBesidesFrames(v1, chatReceived(v1, msg("c", 1)))).toBe(true);
    expect(changedBesidesFrames(v1, timerChanged(v1, { ...IDLE }))).toBe(true);
    expect(changedBesidesFrames(null, v1)).toBe(true);
    expect(changedBesidesFrames(null, null)).toBe(false);
  });

  it("makes a replay's view from its members and feeds it frames", () => {
    const v = fromReplay({ recording_id: "rec", duration_ms: 60_000, speed: 1, position_ms: 0,
      paused: false, whole_room: true, slot: 0, user_id: "u1", display_name: "Ada",
      members: [{ slot: 0, recording_id: "rec", user_id: "u1", display_name: "Ada" },
        { slot: 1, recording_id: "rec2", user_id: "u2", display_name: "Bo" }] });
    expect(v.roomId).toBe("replay:rec");
    expect(v.mySlot).toBeNull();
    expect(membersBySlot(v).map((m) => [m.slot, m.display_name, m.attention]))
      .toEqual([[0, "Ada", "idle"], [1, "Bo", "idle"]]);
    const decoded = decodeFrames(encodeBatch(77, [[1, encodeFrame({ seq: 3, captureMs: 5, scores })]]));
    expect(decoded).toMatchObject({ serverMs: 77, bad: 0 });
    expect(decoded.entries.map((e) => [e.slot, e.frame.seq])).toEqual([[1, 3]]);
    expect(framesDecoded(v, decoded).frames.get(1)?.serverMs).toBe(77);
    expect(decodeFrames(new Uint8Array([0xb1]))).toEqual({ serverMs: 0, entries: [], bad: 1 });
  });
});

import { describe, expect, it } from "vitest";
import type { FocusSession, LobbyRoom, ReplayState, TimerState } from "../src/protocol";
import {
  bossHpFraction, bossLines, hoursMinutes, lobbyStatus, raceText, replayPosition, replayText,
  streakCalendar,
} from "../src/ui/format";
import { parseRoute, routeHash, type Route } from "../src/ui/route";
import { focusChoices, phaseTotalMs, readTimer, ringStroke, timerText } from "../src/ui/timer";
import { recordingUrls } from "../src/ui/roompage";
import { chartData } from "../src/ui/progress";

const DURATIONS = { focus_ms: 1_500_000, short_break_ms: 300_000, long_break_ms: 900_000 };
const T0 = 1_700_000_000_000;
const FOCUS: TimerState = {
  phase: "focus", cycle: 2, cycles: 4, index: 2, phase_started_ms: T0,
  phase_ends_ms: T0 + 1_500_000, paused_at_ms: null, durations: DURATIONS,
};
const IDLE: TimerState = {
  phase: "idle", cycle: 0, cycles: 0, phase_started_ms: null, phase_ends_ms: null,
  paused_at_ms: null, durations: null,
};

describe("timer ring", () => {
  it("reads time left from the absolute end and the server clock", () => {
    const r = readTimer(FOCUS, T0 + 600_000);
    expect(r).toMatchObject({ phase: "focus", running: true, paused: false,
      remainingMs: 900_000, totalMs: 1_500_000 });
    expect(r.fraction).toBeCloseTo(0.4, 10);
    expect(timerText(FOCUS, T0 + 600_000)).toBe("Focus 2/4 15:00");
    // two clients whose local clocks differ read the same once each adds its own offset
    const localA = T0 + 600_000 - 3_000;
    const localB = T0 + 600_000 + 45_000;
    expect(timerText(FOCUS, localA + 3_000)).toBe(timerText(FOCUS, localB - 45_000));
    // past the end it holds at 0:00 until the server announces the next phase
    expect(readTimer(FOCUS, T0 + 2_000_000)).toMatchObject({ remainingMs: 0, fraction: 1 });
    expect(timerText(FOCUS, T0 + 1_499_001)).toBe("Focus 2/4 0:01");
  });

  it("freezes while paused, whatever the clock says", () => {
    const paused = { ...FOCUS, paused_at_ms: T0 + 300_000, phase_ends_ms: T0 + 1_600_000 };
    for (const now of [T0 + 300_000, T0 + 900_000, T0 + 5_000_000]) {
      expect(readTimer(paused, now)).toMatchObject({ paused: true, running: false,
        remainingMs: 1_300_000 });
      expect(timerText(paused, now)).toBe("Focus 2/4 21:40 (paused)");
    }
  });

  it("uses the phase's planned length, falling back to its span", () => {
    expect(phaseTotalMs({ ...FOCUS, phase: "short_break" })).toBe(300_000);
    expect(phaseTotalMs({ ...FOCUS, phase: "long_break" })).toBe(900_000);
    expect(phaseTotalMs({ ...FOCUS, durations: null })).toBe(1_500_000);
    expect(phaseTotalMs(IDLE)).toBeNull();
    expect(readTimer(IDLE, T0)).toEqual({ phase: "idle", running: false, paused: false,
      remainingMs: null, totalMs: null, fraction: 0 });
    expect(timerText(IDLE, T0)).toBe("Idle");
    expect(readTimer({ ...FOCUS, durations: { ...DURATIONS, focus_ms: 0 } }, T0).fraction).toBe(0);
  });

  it("draws the elapsed share as the dash offset", () => {
    const c = 2 * Math.PI * 50;
    expect(ringStroke(0, 50)).toEqual({ dash: c, offset: 0 });
    expect(ringStroke(0.25, 50).offset).toBeCloseTo(c / 4, 10);
    expect(ringStroke(2, 50).offset).toBeCloseTo(c, 10);
    expect(ringStroke(-1, 50).offset).toBe(0);
    expect(ringStroke(Number.NaN, 50).offset).toBe(0);
  });
});

describe("room page text", () => {
  it("formats the boss", () => {
    const boss = { level: 2, name: "Procrastination", hp: 750.4, max_hp: 1500, dps: 2.25,
      combo: 1.1, rage: false };
    expect(bossHpFraction(boss)).toBeCloseTo(0.5003, 3);
    expect(bossHpFraction({ ...boss, hp: -3 })).toBe(0);
    expect(bossHpFraction({ ...boss, max_hp: 0 })).toBe(0);
    expect(bossLines(boss)).toEqual({ title: "Procrastination (level 2)",
      hp: "751 / 1500 HP", stats: "DPS 2.3 · combo x1.10" });
    expect(bossLines({ ...boss, rage: true }).stats)
      .toBe("DPS 2.3 · combo x1.10 · RAGE: the boss is ahead");
  });

  it("says ahead or behind the ghost", () => {
    const e = { slot: 3, recording_id: "r", ghost_focused_s: 100, room_focused_s: 165, ahead_s: 65 };
    expect(raceText(e)).toBe("ahead of the ghost by 1:05");
    expect(raceText({ ...e, ahead_s: -30 })).toBe("behind the ghost by 0:30");
    expect(raceText({ ...e, ahead_s: 0.4 })).toBe("level with the ghost");
    expect(hoursMinutes(65 * 60)).toBe("1 h 05 min");
    expect(hoursMinutes(600)).toBe("10 min");
  });

  it("shows lobby occupancy and the phase on the server clock", () => {
    const room: LobbyRoom = { room_id: "r", name: "x", capacity: 8, owner_display_name: "Ada",
      members: 3, spectators: 0, phase: "idle", phase_ends_ms: null, paused_at_ms: null,
      created_ms: 0 };
    expect(lobbyStatus(room, 0)).toBe("3/8 · idle");
    const running = { ...room, spectators: 2, phase: "focus" as const, phase_ends_ms: 90_000 };
    expect(lobbyStatus(running, 30_000)).toBe("3/8 +2 watching · Focus 1:00");
    expect(lobbyStatus({ ...running, paused_at_ms: 60_000 }, 80_000))
      .toBe("3/8 +2 watching · Focus 0:30 (paused)");
  });

  it("extrapolates a replay's position from its last acknowledged state", () => {
    const s: ReplayState = { recording_id: "r", duration_ms: 60_000, speed: 2,
      position_ms: 10_000, paused: false, whole_room: false, slot: 0, user_id: "u",
      display_name: "Ada", members: [] };
    expect(replayPosition(s, 1_000, 6_000)).toBe(20_000);
    expect(replayPosition(s, 1_000, 500)).toBe(10_000); // clock before the ack: no rewind
    expect(replayPosition(s, 0, 1_000_000)).toBe(60_000);
    expect(replayPosition({ ...s, paused: true }, 0, 50_000)).toBe(10_000);
    expect(replayText(20_000, 60_000)).toBe("0:20 / 1:00");
  });

  it("builds the streak calendar from sessions per local day", () => {
    const day = (y: number, m: number, d: number, h = 10): number => new Date(y, m - 1, d, h).getTime();
    const session = (startedMs: number, focusedS: number): FocusSession => ({
      id: String(startedMs), room_id: null, started_ms: startedMs, ended_ms: startedMs + 1,
      planned_s: 1500, actual_s: 1500, focused_s: focusedS, interruptions: 0, completed: true,
      focus_score: 90, xp: 10, plant: null });
    const cal = streakCalendar([session(day(2026, 3, 30), 1200), session(day(2026, 3, 30, 20), 600),
      session(day(2026, 3, 2), 900), session(day(2026, 1, 1), 100)], day(2026, 4, 2), 28);
    expect(cal).toHaveLength(28);
    expect(cal[27]).toEqual({ day: "2026-04-02", focusedS: 0, sessions: 0 });
    expect(cal[0]!.day).toBe("2026-03-06");
    expect(cal.find((d) => d.day === "2026-03-30")).toEqual({ day: "2026-03-30",
      focusedS: 1800, sessions: 2 });
    expect(cal.some((d) => d.day === "2026-03-02")).toBe(false); // before the window
    // consecutive days, none skipped or doubled (the window crosses DST in many zones)
    const unique = new Set(cal.map((d) => d.day));
    expect(unique.size).toBe(28);
    // a day start of 4 h puts a 02:00 session on the day before
    const early = streakCalendar([session(day(2026, 4, 2, 2), 300)], day(2026, 4, 2, 12), 2, 4);
    expect(early).toEqual([{ day: "2026-04-01", focusedS: 300, sessions: 1 },
      { day: "2026-04-02", focusedS: 0, sessions: 0 }]);
  });
});

describe("routes", () => {
  it("round-trips every page", () => {
    const routes: Route[] = [
      { page: "lobby" }, { page: "progress" },
      { page: "room", roomId: "8c1e6f0e-0000-4000-8000-000000000001" },
      { page: "watch", roomId: "abc" },
      { page: "replay", recordingId: "r1", wholeRoom: false },
      { page: "replay", recordingId: "r2", wholeRoom: true },
    ];
    for (const r of routes) expect(parseRoute(routeHash(r))).toEqual(r);
    expect(parseRoute("#room=x&foo=1")).toEqual({ page: "room", roomId: "x" });
    expect(parseRoute("#nonsense")).toEqual({ page: "lobby" });
    expect(parseRoute("")).toEqual({ page: "lobby" });
  });
});

describe("recording list", () => {
  it("takes the server's listing or plain names", () => {
    expect(recordingUrls({ recordings: [{ name: "a b.csv", format: "llv_csv" }, { name: "" }] }))
      .toEqual(["/recordings/a%20b.csv"]);
    expect(recordingUrls(["x.json", "/elsewhere/y.csv"])).toEqual(["/recordings/x.json",
      "/elsewhere/y.csv"]);
    expect(recordingUrls({ nope: 1 })).toEqual([]);
    expect(recordingUrls(null)).toEqual([]);
  });
});

describe("progress charts", () => {
  it("turns the stats answers into minutes per bucket", () => {
    const window = { range: "7d", timezone: "UTC", day_start_hour: 0, from_ms: 0, to_ms: 1 };
    const d = chartData(
      { window, days: [
        { weekday: 2, weekday_name: "Tuesday", sessions: 1, focused_s: 600, lost_s: 30, avg_focus_score: 80 },
        { weekday: 1, weekday_name: "Monday", sessions: 2, focused_s: 3000, lost_s: 0, avg_focus_score: null },
      ] },
      { window, hours: [{ hour: 9, focused_s: 1200, lost_s: 90 }] },
      { window, types: [{ kind: "phone", source: "self", count: 2, seconds: 300, share: 1 }] });
    expect(d.weekly).toEqual({ labels: ["Mon", "Tue"], focused: [50, 10], lost: [0, 0.5] });
    expect(d.hours.labels).toHaveLength(24);
    expect(d.hours.focused[9]).toBe(20);
    expect(d.hours.lost[9]).toBe(1.5);
    expect(d.hours.focused[10]).toBe(0);
    expect(d.types).toEqual({ labels: ["phone (self)"], minutes: [5], counts: [2] });
  });
});

describe("avatar members", () => {
  it("lists members in slot order, ghosts under their user's name, keyed for changes", async () => {
    const { avatarMembers, membersKey } = await import("../src/ui/avatars");
    const { fromRoomState, memberState } = await import("../src/room");
    const v = fromRoomState({ room_id: "r", name: "n", capacity: 4, members: [
      { slot: 3, user_id: "u1", display_name: "Ada (ghost)", kind: "ghost", attention: "focused", connected: true },
      { slot: 1, user_id: "u1", display_name: "Ada", kind: "live", attention: "idle", connected: true },
    ], spectators: 0, timer: IDLE, boss: null, server_ms: 0 }, null, 1);
    expect(avatarMembers(v)).toEqual([
      { slot: 1, kind: "live", displayName: "Ada", attention: "idle" },
      { slot: 3, kind: "ghost", displayName: "Ada", attention: "focused" },
    ]);
    const k = membersKey(v);
    expect(membersKey(memberState(v, { slot: 1, attention: "idle", since_ms: 5 }))).toBe(k);
    expect(membersKey(memberState(v, { slot: 1, attention: "no_face", since_ms: 5 }))).not.toBe(k);
  });
});


describe("timer options", () => {
  it("offers the server's focus lengths, or the usual ones within its bounds", () => {
    const opts = { focus_choices_min: [25, 50], min_phase_s: 60, max_phase_s: 14_400,
      max_cycles: 12 };
    expect(focusChoices(opts)).toEqual([25, 50]);
    expect(focusChoices(null)).toEqual([15, 25, 45, 60]);
    expect(focusChoices({ ...opts, focus_choices_min: [], max_phase_s: 1800 }))
      .toEqual([15, 25]);
    expect(focusChoices({ ...opts, focus_choices_min: [], min_phase_s: 7200 })).toEqual([120]);
  });
});

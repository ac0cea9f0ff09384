/**
 * Pure text for the room page, lobby, spectator and progress pages: boss, ghost race,
 * lobby rows, replay position, streak calendar. Times in, strings out; no DOM.
 */

import type {
  Attention, BossState, FocusSession, GhostRaceEntry, LobbyRoom, ReplayState,
} from "../protocol";
import { formatDuration } from "../view";
import { phaseName } from "./timer";

/** Boss HP as a 0..1 fraction of its max (0 for a bad max). */
export function bossHpFraction(boss: BossState): number {
  if (!(boss.max_hp > 0)) return 0;
  return Math.min(1, Math.max(0, boss.hp / boss.max_hp));
}

/** The boss card's lines: title, HP, and damage figures. */
export function bossLines(boss: BossState): { title: string; hp: string; stats: string } {
  return {
    title: `${boss.name} (level ${boss.level})`,
    hp: `${Math.ceil(boss.hp)} / ${Math.round(boss.max_hp)} HP`,
    stats: `DPS ${boss.dps.toFixed(1)} · combo x${boss.combo.toFixed(2)}`
      + (boss.rage ? " · RAGE: the boss is ahead" : ""),
  };
}

/** A signed duration in s as "m:ss". */
function seconds(s: number): string {
  return formatDuration(Math.abs(s) * 1000);
}

/** The room against one ghost: "ahead by 1:05", "behind by 0:30", or "level" within half a
 * second (`ahead_s` > 0: the room is ahead). */
export function raceText(entry: GhostRaceEntry): string {
  if (Math.abs(entry.ahead_s) < 0.5) return "level with the ghost";
  return entry.ahead_s > 0
    ? `ahead of the ghost by ${seconds(entry.ahead_s)}`
    : `behind the ghost by ${seconds(entry.ahead_s)}`;
}

/** A lobby row's status: occupancy and the timer phase with its time left on the server
 * clock. */
export function lobbyStatus(room: LobbyRoom, serverNowMs: number): string {
  const people = `${room.members}/${room.capacity}`
    + (room.spectators > 0 ? ` +${room.spectators} watching` : "");
  if (room.phase === "idle" || room.phase_ends_ms === null) return `${people} · idle`;
  const left = room.phase_ends_ms - (room.paused_at_ms ?? serverNowMs);
  return `${people} · ${phaseName(room.phase)} ${formatDuration(left)}`
    + (room.paused_at_ms !== null ? " (paused)" : "");
}

const ATTENTION_LABELS: Record<Attention, string> = {
  focused: "focused", looking_away: "looking away", eyes_closed: "eyes closed",
  no_face: "no face", distracted: "distracted", idle: "idle",
};

export function attentionLabel(a: Attention): string {
  return ATTENTION_LABELS[a] ?? a;
}

/** Where a replay is, ms, `nowMs - sinceMs` after its state was acknowledged: it advances
 * `speed` times wall time unless paused, clamped to [0, duration]. */
export function replayPosition(state: ReplayState, sinceMs: number, nowMs: number): number {
  const advanced = state.paused ? 0 : Math.max(0, nowMs - sinceMs) * state.speed;
  return Math.min(state.duration_ms, Math.max(0, state.position_ms + advanced));
}

export const REPLAY_SPEEDS: readonly number[] = [0.5, 1, 2, 4, 8];

/** "1:02 / 25:00" for a replay position. */
export function replayText(positionMs: number, durationMs: number): string {
  return `${formatDuration(positionMs)} / ${formatDuration(durationMs)}`;
}

/** A local calendar day "YYYY-MM-DD" of epoch ms in the browser's zone (shifted by
 * `dayStartHour`: a session at 02:00 with day start 4 counts for the day before). */
export function localDay(epochMs: number, dayStartHour = 0): string {
  const d = new Date(epochMs - dayStartHour * 3_600_000);
  const m = String(d.getMonth() + 1).padStart(2, "0");
  const day = String(d.getDate()).padStart(2, "0");
  return `${d.getFullYear()}-${m}-${day}`;
}

/** One cell of the streak calendar. */
export interface CalendarDay {
  readonly day: string;
  readonly focusedS: number;
  readonly sessions: number;
}

/** The last `days` local days ending with `todayMs`'s, oldest first, with the focused s and
 * session count of `sessions` started on each. */
export function streakCalendar(
  sessions: readonly FocusSession[], todayMs: number, days = 28, dayStartHour = 0,
): CalendarDay[] {
  const totals = new Map<string, { focusedS: number; sessions: number }>();
  for (const s of sessions) {
    const key = localDay(s.started_ms, dayStartHour);
    const t = totals.get(key) ?? { focusedS: 0, sessions: 0 };
    t.focusedS += s.focused_s;
    t.sessions += 1;
    totals.set(key, t);
  }
  const out: CalendarDay[] = [];
  const today = new Date(todayMs - dayStartHour * 3_600_000);
  for (let i = days - 1; i >= 0; i--) {
    // calendar arithmetic (not 86.4e6 ms steps) so DST days are not skipped or doubled
    const d = new Date(today.getFullYear(), today.getMonth(), today.getDate() - i, 12);
    const key = localDay(d.getTime());
    const t = totals.get(key);
    out.push({ day: key, focusedS: t?.focusedS ?? 0, sessions: t?.sessions ?? 0 });
  }
  return out;
}

/** Focused s as "1 h 05 min" / "12 min". */
export function hoursMinutes(s: number): string {
  const min = Math.round(s / 60);
  if (min < 60) return `${min} min`;
  return `${Math.floor(min / 60)} h ${String(min % 60).padStart(2, "0")} min`;
}

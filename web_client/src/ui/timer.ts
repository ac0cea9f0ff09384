/**
 * Pomodoro ring math, pure: everything comes from the timer's absolute server-clock times
 * (epoch ms) and the caller's server-clock "now" (local clock + the time_sync offset), never
 * from a local countdown, so every client shows the same time (README "Socket.IO protocol":
 * `phase_ends_ms` is absolute; while paused the end is as of the pause instant).
 */

import type { Phase, TimerState } from "../protocol";
import { formatDuration } from "../view";

/** The timer at one instant. `remainingMs`/`totalMs` null when idle; `fraction` 0..1 of the
 * phase elapsed (0 when idle). */
export interface TimerReading {
  readonly phase: Phase;
  readonly running: boolean;
  readonly paused: boolean;
  readonly remainingMs: number | null;
  readonly totalMs: number | null;
  readonly fraction: number;
}

/** The planned length of the current phase, ms: from `durations` (pauses do not lengthen
 * it), else the span from its start to its end; null when idle or unknown. */
export function phaseTotalMs(timer: TimerState): number | null {
  const d = timer.durations;
  if (d !== null) {
    if (timer.phase === "focus") return d.focus_ms;
    if (timer.phase === "short_break") return d.short_break_ms;
    if (timer.phase === "long_break") return d.long_break_ms;
  }
  if (timer.phase_started_ms !== null && timer.phase_ends_ms !== null) {
    return Math.max(0, timer.phase_ends_ms - timer.phase_started_ms);
  }
  return null;
}

/** Read the timer at server epoch ms `serverNowMs`. */
export function readTimer(timer: TimerState, serverNowMs: number): TimerReading {
  if (timer.phase === "idle" || timer.phase_ends_ms === null) {
    return { phase: "idle", running: false, paused: false, remainingMs: null, totalMs: null,
      fraction: 0 };
  }
  const paused = timer.paused_at_ms !== null;
  const at = timer.paused_at_ms ?? serverNowMs;
  const remainingMs = Math.max(0, timer.phase_ends_ms - at);
  const totalMs = phaseTotalMs(timer);
  const fraction = totalMs === null || totalMs <= 0
    ? 0
    : Math.min(1, Math.max(0, 1 - remainingMs / totalMs));
  return { phase: timer.phase, running: !paused, paused, remainingMs, totalMs, fraction };
}

const PHASE_NAMES: Record<Phase, string> = {
  focus: "Focus", short_break: "Short break", long_break: "Long break", idle: "Idle",
};

export function phaseName(phase: Phase): string {
  return PHASE_NAMES[phase];
}

/** The ring's label: "Focus 1/4 24:59", "... (paused)", or "Idle". */
export function timerText(timer: TimerState, serverNowMs: number): string {
  const r = readTimer(timer, serverNowMs);
  if (r.remainingMs === null) return "Idle";
  const cycle = timer.cycles > 0 ? ` ${timer.cycle}/${timer.cycles}` : "";
  return `${phaseName(r.phase)}${cycle} ${formatDuration(r.remainingMs)}${r.paused ? " (paused)" : ""}`;
}

/** SVG stroke of a ring of `radius` showing `fraction` elapsed: the circumference (the
 * dash array) and the dash offset that leaves the remaining part drawn. */
export function ringStroke(fraction: number, radius: number): { dash: number; offset: number } {
  const dash = 2 * Math.PI * radius;
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  return { dash, offset: dash * f };
}

/** The body of `timer_start` from the owner's choices (minutes). */
export interface TimerChoice {
  focus_min: number;
  break_min: number;
  long_break_min: number;
  cycles: number;
}

export const FOCUS_CHOICES: readonly number[] = [15, 25, 45, 60];

/** `GET /api/timer-options`: what the server's `timer_start` accepts. */
export interface TimerOptions {
  focus_choices_min: number[];
  min_phase_s: number;
  max_phase_s: number;
  max_cycles: number;
}

/** The focus lengths to offer, min: the server's choices, or (any length allowed) the
 * usual ones within its phase bounds. */
export function focusChoices(options: TimerOptions | null): readonly number[] {
  if (options === null) return FOCUS_CHOICES;
  if (options.focus_choices_min.length > 0) return options.focus_choices_min;
  const fits = FOCUS_CHOICES.filter((m) => m * 60 >= options.min_phase_s
    && m * 60 <= options.max_phase_s);
  return fits.length > 0 ? fits : [Math.max(1, Math.ceil(options.min_phase_s / 60))];
}
export const BREAK_CHOICES: readonly number[] = [5, 10, 15];

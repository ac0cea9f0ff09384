/**
 * Text rendering of the room for this first slice: one line per member with its attention
 * state, and the timer. `describeRoom` is pure (tested); `renderRoom` writes it into the
 * page. The avatar scene and HUD of later slices render from the same RoomView.
 */

import { facePresent } from "./frame";
import { membersBySlot, type RoomView } from "./room";

/** "m:ss" of a non-negative duration in ms (rounded up: a timer never shows 0:00 early). */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** The timer as one line, with the time left on the server clock at `serverNowMs`. */
export function describeTimer(view: RoomView, serverNowMs: number): string {
  const t = view.timer;
  if (t.phase === "idle" || t.phase_ends_ms === null) return "timer: idle";
  // while paused the end is as of the pause instant, and the time left stays frozen
  const left = t.phase_ends_ms - (t.paused_at_ms ?? serverNowMs);
  const paused = t.paused_at_ms !== null ? " (paused)" : "";
  return `timer: ${t.phase} ${t.cycle}/${t.cycles}, ${formatDuration(left)} left${paused}`;
}

/** One line per member, in slot order: slot, name, kind, attention, connection, and the
 * age of the newest frame received for it. */
export function describeMembers(view: RoomView, serverNowMs: number): string[] {
  return membersBySlot(view).map((m) => {
    const parts = [`#${m.slot}`, m.display_name];
    if (m.slot === view.mySlot) parts.push("(you)");
    if (m.kind === "ghost") parts.push("(ghost)");
    parts.push(`- ${m.attention}`);
    if (m.sinceMs !== null) parts.push(`for ${formatDuration(serverNowMs - m.sinceMs)}`);
    if (!m.connected) parts.push("[disconnected]");
    const latest = view.frames.get(m.slot);
    if (latest !== undefined) {
      const f = latest.frame;
      const pose = facePresent(f)
        ? `yaw ${(f.yawCdeg / 100).toFixed(1)} pitch ${(f.pitchCdeg / 100).toFixed(1)}`
        : "no face";
      parts.push(`[frame ${f.seq}: ${pose}]`);
    }
    return parts.join(" ");
  });
}

/** The whole room as text lines. */
export function describeRoom(view: RoomView, serverNowMs: number): string[] {
  return [
    `${view.name} (${view.members.size}/${view.capacity} members, ${view.spectators} watching)`,
    describeTimer(view, serverNowMs),
    ...describeMembers(view, serverNowMs),
  ];
}

/** Replace `target`'s content with the room's lines (text only: names are user input). */
export function renderRoom(target: HTMLElement, view: RoomView, serverNowMs: number): void {
  const lines = describeRoom(view, serverNowMs);
  target.replaceChildren(...lines.map((line) => {
    const li = document.createElement("li");
    li.textContent = line;
    return li;
  }));
}

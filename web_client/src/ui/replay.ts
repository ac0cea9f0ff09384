/**
 * The replay page (`#replay=<recording id>`, `&whole=1` for the whole room's phase):
 * `replay_watch`, then speed, pause and a seek bar (`replay_control`), `replay_stop` on
 * leaving. The position is extrapolated from the last acknowledged state (format.ts
 * replayPosition); recorded attention arrives as member_state, the recorded timer as
 * replay_event.
 */

import { localEpochMs } from "../clock";
import type { ReplayState } from "../protocol";
import type { SessionEvent, StudySession } from "../session";
import type { App } from "./app";
import { describeError, h, setText } from "./dom";
import { REPLAY_SPEEDS, replayPosition, replayText } from "./format";
import { routeHash } from "./route";
import { AvatarPanel, MemberList } from "./widgets";

export function mountReplay(
  app: App, root: HTMLElement, recordingId: string, wholeRoom: boolean,
): () => void {
  let session: StudySession | null = null;
  let unsubscribe: () => void = () => {};
  let state: ReplayState | null = null;
  let stateAt = 0;
  let seeking = false;
  let disposed = false;

  const panel = new AvatarPanel();
  const members = new MemberList();
  const title = h("h2", {}, "Loading the replay...");
  const position = h("span", { "data-testid": "replay-position" }, "0:00 / 0:00");
  const seek = h("input", { type: "range", min: 0, max: 1, value: 0, step: 100,
    "aria-label": "seek", class: "seek", "data-testid": "seek" });
  const pause = h("button", { type: "button", id: "replay-pause" }, "Pause");
  const speed = h("select", { "aria-label": "speed", id: "replay-speed" },
    ...REPLAY_SPEEDS.map((s) => h("option", { value: s, selected: s === 1 }, `${s}x`)));
  const ended = h("p", { class: "muted" });
  const back = h("button", { type: "button", onclick: () => {
    location.hash = routeHash({ page: "lobby" });
  } }, "Back to the lobby");

  root.replaceChildren(h("div", { class: "page replay" },
    h("header", { class: "room-head" }, title, back),
    h("div", { class: "replay-controls" }, pause, speed, seek, position), ended,
    h("div", { class: "room-grid" }, h("div", { class: "left" }, panel.el),
      h("div", { class: "right" }, members.el))));

  const control = (change: { paused?: boolean; speed?: number; seek_ms?: number }): void => {
    session?.controlReplay(change).catch((err: unknown) => app.status(describeError(err), true));
  };
  pause.addEventListener("click", () => {
    if (state === null) return;
    if (state.position_ms >= state.duration_ms && state.paused) {
      control({ seek_ms: 0, paused: false });
    } else {
      control({ paused: !state.paused });
    }
  });
  speed.addEventListener("change", () => control({ speed: Number(speed.value) }));
  seek.addEventListener("input", () => {
    seeking = true;
  });
  seek.addEventListener("change", () => {
    seeking = false;
    setText(ended, "");
    control({ seek_ms: Number(seek.value) });
  });

  function currentMs(): number {
    return state === null ? 0 : replayPosition(state, stateAt, localEpochMs());
  }

  app.timerText = () => (state === null ? "" : replayText(currentMs(), state.duration_ms));

  function render(): void {
    if (state === null) return;
    const pos = currentMs();
    setText(position, replayText(pos, state.duration_ms));
    if (!seeking) seek.value = String(Math.round(pos));
    const view = session?.room;
    if (view) members.update(view, null);
  }

  function onEvent(event: SessionEvent): void {
    panel.onEvent(event);
    if (event.kind === "replay") {
      state = event.replay;
      stateAt = event.atMs;
      seek.max = String(state.duration_ms);
      setText(pause, state.paused ? "Play" : "Pause");
      speed.value = String(state.speed);
    } else if (event.kind === "replay_ended") {
      setText(ended, "The replay reached its end.");
    } else if (event.kind === "error") {
      app.status(`${event.error.code}: ${event.error.message}`, true);
    } else if (event.kind === "status") {
      app.status(event.text);
    }
  }

  async function enter(): Promise<void> {
    try {
      if (app.auth.session === null) {
        app.status("sign in first", true);
        location.hash = "";
        return;
      }
      const s = await app.ensureSession();
      if (disposed) return;
      session = s;
      unsubscribe = s.subscribe(onEvent);
      const replay = await s.watchReplay(recordingId, 1, wholeRoom);
      if (disposed) return;
      setText(title, `Replay: ${replay.display_name}`
        + (replay.whole_room ? ` and ${replay.members.length - 1} more` : ""));
      panel.sync(s.room);
      app.status("");
    } catch (err) {
      setText(title, "Could not start the replay");
      app.status(describeError(err), true);
    }
  }

  void panel.start((err) => app.status(`avatars: ${describeError(err)}`, true)).then(() => {
    app.stage = panel.stage;
    panel.sync(session?.room ?? null);
  });
  void enter();
  const timer = setInterval(render, 250);
  return () => {
    disposed = true;
    clearInterval(timer);
    unsubscribe();
    if (session?.replay) void session.stopReplay();
    panel.dispose();
    app.stage = null;
    app.timerText = () => "";
  };
}

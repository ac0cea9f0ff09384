/**
 * The room page, as a member (`#room=<id>`) or a spectator (`#watch=<id>`): avatar stage,
 * Pomodoro ring, owner timer controls, boss card, attention badges, ghost race and picker,
 * chat, reward card, and (members) the camera or a recording as the face source.
 */

import { FaceSetupError, FaceTracker } from "../face";
import type { GhostInfo, Role } from "../protocol";
import { changedBesidesFrames, type RoomView } from "../room";
import type { SessionEvent, StudySession, TimerCommand } from "../session";
import type { App } from "./app";
import { loadRecordingSource, type RecordingSourceLike } from "./avatars";
import { describeError, h, setText } from "./dom";
import { knownInvite } from "./lobby";
import { routeHash } from "./route";
import { BREAK_CHOICES, FOCUS_CHOICES, focusChoices, type TimerOptions } from "./timer";
import { AvatarPanel, BossCard, ChatBox, MemberList, RaceList, RewardCard, Ring } from "./widgets";

/** Page refresh interval (ring, badges), ms: frames go to the stage as they arrive. */
export const RENDER_INTERVAL_MS = 250;
/** Where recordings for "play a recording instead of the camera" are listed. */
export const RECORDINGS_URL = "/recordings/";

/** Recording URLs from `GET /recordings/`: a JSON list of names or URLs, or
 * `{recordings: [{url?|name?|file?}]}`; names are resolved against `base`. */
export function recordingUrls(body: unknown, base = RECORDINGS_URL): string[] {
  const items: unknown[] = Array.isArray(body)
    ? body
    : (body !== null && typeof body === "object"
      && Array.isArray((body as { recordings?: unknown }).recordings))
      ? (body as { recordings: unknown[] }).recordings : [];
  const out: string[] = [];
  for (const item of items) {
    let ref: unknown = item;
    if (item !== null && typeof item === "object") {
      const o = item as Record<string, unknown>;
      ref = o.url ?? o.name ?? o.file ?? o.path;
    }
    if (typeof ref !== "string" || !ref) continue;
    out.push(ref.startsWith("/") || /^https?:/.test(ref) ? ref : base + encodeURIComponent(ref));
  }
  return out;
}

export function mountRoom(app: App, root: HTMLElement, roomId: string, role: Role): () => void {
  let session: StudySession | null = null;
  let unsubscribe: () => void = () => {};
  let tracker: FaceTracker | null = null;
  let recording: RecordingSourceLike | null = null;
  let disposed = false;
  let dirty = true;

  const ring = new Ring();
  const boss = new BossCard();
  const members = new MemberList();
  const race = new RaceList();
  const reward = new RewardCard();
  const panel = new AvatarPanel();
  const title = h("h2", { "data-testid": "room-title" }, "Joining...");
  const info = h("p", { class: "muted" });
  const controls = h("div", { class: "controls", hidden: true, "data-testid": "owner-controls" });
  const ghostPicker = h("section", { class: "card", hidden: true }, h("h3", {}, "Ghosts"));
  const face = h("section", { class: "card face", hidden: role !== "member" });
  const chatSlot = h("div");
  const leave = h("button", { type: "button", onclick: () => {
    void session?.leave().finally(() => {
      location.hash = routeHash({ page: "lobby" });
    });
  } }, role === "member" ? "Leave" : "Stop watching");

  root.replaceChildren(h("div", { class: "page room" },
    h("header", { class: "room-head" }, title, leave), info,
    h("div", { class: "room-grid" },
      h("div", { class: "left" }, panel.el, members.el, race.el, face),
      h("div", { class: "right" }, ring.el, controls, reward.el, boss.el, ghostPicker, chatSlot))));

  app.timerText = () => ring.currentText;

  // --- owner controls ------------------------------------------------------------------
  const select = (choices: readonly number[], value: number, name: string): HTMLSelectElement =>
    h("select", { name }, ...choices.map((c) => h("option", { value: c, selected: c === value },
      `${c} min`)));
  const focusSel = select(FOCUS_CHOICES, 25, "focus_min");
  // offer exactly the server's focus lengths (GET /api/timer-options)
  app.get<TimerOptions>("/api/timer-options").then((options) => {
    const choices = focusChoices(options);
    const keep = choices.includes(Number(focusSel.value)) ? Number(focusSel.value)
      : choices.includes(25) ? 25 : choices[0]!;
    focusSel.replaceChildren(...choices.map((c) => h("option",
      { value: c, selected: c === keep }, `${c} min`)));
    cyclesIn.max = String(options.max_cycles);
  }, () => { /* keep the defaults */ });
  const breakSel = select(BREAK_CHOICES, 5, "break_min");
  const longSel = select([15, 20, 30], 15, "long_break_min");
  const cyclesIn = h("input", { type: "number", min: 1, max: 12, value: 4, name: "cycles" });
  const command = (c: TimerCommand) => () => {
    session?.timerCommand(c).catch((err: unknown) => app.status(describeError(err), true));
  };
  const startBtn = h("button", { type: "button", id: "timer-start", onclick: () => {
    session?.startTimer({ focus_min: Number(focusSel.value), break_min: Number(breakSel.value),
      long_break_min: Number(longSel.value), cycles: Number(cyclesIn.value) || 4 })
      .catch((err: unknown) => app.status(describeError(err), true));
  } }, "Start");
  const pauseBtn = h("button", { type: "button", id: "timer-pause", onclick: command("timer_pause") }, "Pause");
  const resumeBtn = h("button", { type: "button", id: "timer-resume", onclick: command("timer_resume") }, "Resume");
  const skipBtn = h("button", { type: "button", id: "timer-skip", onclick: command("timer_skip") }, "Skip");
  const stopBtn = h("button", { type: "button", id: "timer-stop", onclick: command("timer_stop") }, "Stop");
  controls.append(
    h("div", { class: "choices" }, h("label", {}, "Focus ", focusSel),
      h("label", {}, "Break ", breakSel), h("label", {}, "Long break ", longSel),
      h("label", {}, "Cycles ", cyclesIn)),
    h("div", {}, startBtn, pauseBtn, resumeBtn, skipBtn, stopBtn));

  function updateControls(view: RoomView): void {
    const owner = role === "member" && view.ownerId !== null && view.ownerId === session?.userId;
    controls.hidden = !owner;
    ghostPicker.hidden = !owner;
    const idle = view.timer.phase === "idle";
    const paused = view.timer.paused_at_ms !== null;
    startBtn.hidden = !idle;
    for (const el of controls.querySelectorAll<HTMLElement>(".choices")) el.hidden = !idle;
    pauseBtn.hidden = idle || paused;
    resumeBtn.hidden = idle || !paused;
    skipBtn.hidden = idle;
    stopBtn.hidden = idle;
  }

  // --- ghosts --------------------------------------------------------------------------
  const ghostSelect = h("select", { "aria-label": "recording" });
  const ghostList = h("ul", { class: "ghosts" });
  let ghostCandidates: GhostInfo[] = [];
  /** Recording of each ghost slot this page added (the race list says it only every 10 s). */
  const addedGhosts = new Map<number, string>();
  ghostPicker.append(h("div", {}, ghostSelect,
    h("button", { type: "button", title: "reload the list", onclick: () => void loadGhostCandidates() },
      "Reload"),
    h("button", { type: "button", onclick: () => {
      const id = ghostSelect.value;
      if (!id || session === null) return;
      session.addGhost(id).then(({ ghost }) => {
        addedGhosts.set(ghost.slot, id);
        dirty = true;
        app.status("ghost added");
      },
        (err: unknown) => app.status(`ghost: ${describeError(err)}`, true));
    } }, "Add ghost")), ghostList);

  async function loadGhostCandidates(): Promise<void> {
    try {
      ghostCandidates = (await app.ghosts(50)).filter((g) => g.ended_ms !== null);
      ghostSelect.replaceChildren(...ghostCandidates.map((g) => h("option", { value: g.id },
        `${g.display_name} · ${new Date(g.started_ms).toLocaleString()} · `
        + `${Math.round(g.duration_ms / 60000)} min`)));
      if (ghostCandidates.length === 0) {
        ghostSelect.replaceChildren(h("option", { value: "" }, "no finished recordings yet"));
      }
    } catch (err) {
      ghostSelect.replaceChildren(h("option", { value: "" }, `recordings: ${describeError(err)}`));
    }
  }

  function updateGhosts(view: RoomView): void {
    const ghosts = [...view.members.values()].filter((m) => m.kind === "ghost");
    const bySlot = new Map(addedGhosts);
    for (const g of view.ghostRace) bySlot.set(g.slot, g.recording_id);
    ghostList.replaceChildren(...ghosts.map((m) => {
      const rec = bySlot.get(m.slot);
      return h("li", {}, m.display_name, " ", rec === undefined ? null : h("button", {
        type: "button", onclick: () => {
          session?.removeGhost(rec).catch((err: unknown) => app.status(describeError(err), true));
        } }, "Remove"));
    }));
  }

  // --- face source: camera or a recording ------------------------------------------------
  const faceStatus = h("span", { class: "muted", "data-testid": "face-status" });
  const cameraBtn = h("button", { type: "button", id: "camera" }, "Start camera");
  const video = h("video", { hidden: true });
  const recSelect = h("select", { "aria-label": "recording to play" });
  const recBtn = h("button", { type: "button", id: "play-recording" }, "Play recording");
  const hideFace = h("input", { type: "checkbox", id: "hide-face" });
  face.append(h("h3", {}, "Your face"), h("div", {}, cameraBtn, " ", faceStatus), video,
    h("div", { class: "recording" }, "Or play a recording instead of the camera: ", recSelect,
      recBtn, h("label", {}, hideFace, " hide the face (test looking away)")));

  /** Send a frame of one's face, and show it on one's own avatar. */
  function sendOwn(bytes: Uint8Array): void {
    if (session === null) return;
    session.sendFrame(bytes);
    panel.pushOwn(session.room?.mySlot, bytes, session.serverNow());
  }

  function stopFace(): void {
    tracker?.close();
    tracker = null;
    recording?.stop();
    recording = null;
    video.hidden = true;
    cameraBtn.textContent = "Start camera";
    recBtn.textContent = "Play recording";
  }

  cameraBtn.addEventListener("click", () => {
    if (tracker !== null) {
      stopFace();
      setText(faceStatus, "");
      return;
    }
    stopFace();
    cameraBtn.disabled = true;
    setText(faceStatus, "loading the face tracker...");
    let sent = 0;
    FaceTracker.create({
      onFrame: (frame) => {
        sendOwn(frame);
        sent += 1;
        if (sent % 30 === 0) setText(faceStatus, `${sent} frames sent`);
      },
      onError: (err) => setText(faceStatus, `tracking error: ${describeError(err)}`),
    }).then(async (t) => {
      if (disposed) {
        t.close();
        return;
      }
      tracker = t;
      await t.start(video);
      video.hidden = false;
      cameraBtn.textContent = "Stop camera";
      setText(faceStatus, "tracking");
    }).catch((err: unknown) => {
      tracker?.close();
      tracker = null;
      setText(faceStatus, err instanceof FaceSetupError ? err.message : describeError(err));
    }).finally(() => {
      cameraBtn.disabled = false;
    });
  });

  async function loadRecordings(): Promise<void> {
    const Source = await loadRecordingSource();
    if (Source === null) {
      recSelect.replaceChildren(h("option", { value: "" }, "recordings are not in this build"));
      recBtn.disabled = true;
      return;
    }
    try {
      const resp = await fetch(RECORDINGS_URL, { headers: { Accept: "application/json" } });
      if (!resp.ok) throw new Error(`GET ${RECORDINGS_URL}: HTTP ${resp.status}`);
      const urls = recordingUrls(await resp.json());
      recSelect.replaceChildren(...urls.map((u) => h("option", { value: u },
        decodeURIComponent(u.split("/").pop() ?? u))));
      recBtn.disabled = urls.length === 0;
    } catch (err) {
      recSelect.replaceChildren(h("option", { value: "" }, describeError(err)));
      recBtn.disabled = true;
    }
    recBtn.addEventListener("click", () => {
      if (recording !== null) {
        stopFace();
        setText(faceStatus, "");
        return;
      }
      stopFace();
      const url = recSelect.value;
      if (!url) return;
      setText(faceStatus, "loading the recording...");
      Source.load(url).then((src) => {
        if (disposed) return;
        recording = src;
        src.setFaceHidden(hideFace.checked);
        let sent = 0;
        src.start((bytes) => {
          sendOwn(bytes);
          sent += 1;
          if (sent % 30 === 0) setText(faceStatus, `${sent} recorded frames sent`);
        });
        recBtn.textContent = "Stop recording";
        setText(faceStatus, "playing the recording");
      }, (err: unknown) => setText(faceStatus, `recording: ${describeError(err)}`));
    });
    hideFace.addEventListener("change", () => recording?.setFaceHidden(hideFace.checked));
  }

  // --- session -------------------------------------------------------------------------
  let chat: ChatBox | null = null;
  let lastView: RoomView | null = null;
  function render(): void {
    const view = session?.room ?? null;
    if (session === null || view === null || view.roomId !== roomId) return;
    const now = session.serverNow();
    ring.update(view, now);
    if (!dirty) return;
    dirty = false;
    setText(title, view.name);
    const invite = knownInvite(roomId);
    const watching = view.spectators;
    setText(info, `${view.members.size}/${view.capacity} members · ${watching} watching`
      + (role === "spectator" ? " · you are watching" : "")
      + ` · link ${location.origin}${location.pathname}${routeHash({ page: "room", roomId })}`
      + (invite ? ` · invite code ${invite}` : ""));
    members.update(view, now);
    race.update(view);
    boss.update(view);
    updateControls(view);
    updateGhosts(view);
    chat?.update(view);
  }

  function onEvent(event: SessionEvent): void {
    panel.onEvent(event);
    switch (event.kind) {
      case "room":
        if (changedBesidesFrames(lastView, event.view)) dirty = true;
        lastView = event.view;
        break;
      case "reward": reward.show(event.reward); break;
      case "boss_defeated": boss.defeated(event.defeated, session?.userId ?? null); break;
      case "status": app.status(event.text); break;
      case "error": app.status(`${event.error.code}: ${event.error.message}`, true); break;
      default: break;
    }
  }

  async function enter(): Promise<void> {
    try {
      if (app.auth.session === null) {
        app.status("sign in first, then open the link again", true);
        location.hash = "";
        return;
      }
      const s = await app.ensureSession();
      if (disposed) return;
      session = s;
      unsubscribe = s.subscribe(onEvent);
      if (s.room?.roomId !== roomId || s.currentRole !== role) {
        app.status(role === "member" ? "joining..." : "connecting as a spectator...");
        await s.join(roomId, role);
      }
      if (disposed) return;
      const clock = s.clockEstimate;
      app.status(clock ? `clock offset ${clock.offsetMs.toFixed(0)} ms, rtt ${clock.rttMs.toFixed(0)} ms` : "");
      chat = new ChatBox(s, role === "member", (t, e) => app.status(t, e));
      chatSlot.replaceChildren(chat.el);
      dirty = true;
      render();
      panel.sync(s.room);
      if (role === "member") void loadRecordings();
      const view = s.room;
      if (view !== null && view.ownerId === s.userId) void loadGhostCandidates();
    } catch (err) {
      setText(title, "Could not enter the room");
      app.status(describeError(err), true);
    }
  }

  void panel.start((err) => app.status(`avatars: ${describeError(err)}`, true)).then(() => {
    app.stage = panel.stage;
    panel.sync(session?.room ?? null);
  });
  void enter();
  const timer = setInterval(render, RENDER_INTERVAL_MS);
  const badges = setInterval(() => {
    dirty = true; // "for m:ss" on the badges advances
  }, 1000);

  return () => {
    disposed = true;
    clearInterval(timer);
    clearInterval(badges);
    unsubscribe();
    stopFace();
    panel.dispose();
    app.stage = null;
    app.timerText = () => "";
  };
}

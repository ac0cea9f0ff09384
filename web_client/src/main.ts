/**
 * The page of the first slice: sign in as a guest, create or join a room, and show its
 * members and their attention as text; optionally stream the camera's face as avatar frames.
 * DOM wiring only: the protocol lives in session.ts, the room state in room.ts, the text in
 * view.ts. A room link is `/#room=<room id>`.
 */

import { ApiError } from "./api";
import { FaceSetupError, FaceTracker } from "./face";
import type { RoomView } from "./room";
import { StudySession, type SessionEvent } from "./session";
import { AckError, ConnectError } from "./socket";
import { renderRoom } from "./view";

const NAME_KEY = "studyverse.display_name";
/** Text re-render interval, ms: frames arrive at 30 Hz, the page needs far less. */
const RENDER_INTERVAL_MS = 250;

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`page has no #${id}`);
  return found as T;
}

const ui = {
  form: element<HTMLFormElement>("join-form"),
  name: element<HTMLInputElement>("display-name"),
  room: element<HTMLInputElement>("room"),
  join: element<HTMLButtonElement>("join"),
  status: element<HTMLParagraphElement>("status"),
  section: element<HTMLElement>("room-section"),
  title: element<HTMLHeadingElement>("room-title"),
  link: element<HTMLElement>("room-link"),
  invite: element<HTMLElement>("invite-code"),
  lines: element<HTMLUListElement>("room-lines"),
  camera: element<HTMLButtonElement>("camera"),
  cameraStatus: element<HTMLSpanElement>("camera-status"),
  video: element<HTMLVideoElement>("video"),
};

let session: StudySession | null = null;
let tracker: FaceTracker | null = null;
let dirty = false;

function showStatus(text: string, isError = false): void {
  ui.status.textContent = text;
  ui.status.classList.toggle("error", isError);
}

function describeError(err: unknown): string {
  if (err instanceof ApiError || err instanceof AckError || err instanceof ConnectError) {
    return `${err.code}: ${err.message}`;
  }
  return err instanceof Error ? err.message : String(err);
}

function roomFromHash(): string {
  return new URLSearchParams(location.hash.slice(1)).get("room") ?? "";
}

function showRoom(view: RoomView): void {
  ui.section.hidden = false;
  ui.title.textContent = view.name;
  const link = `${location.origin}${location.pathname}#room=${view.roomId}`;
  ui.link.textContent = link;
  if (roomFromHash() !== view.roomId) history.replaceState(null, "", `#room=${view.roomId}`);
}

function onSessionEvent(event: SessionEvent): void {
  if (event.kind === "room") {
    dirty = true;
  } else if (event.kind === "status") {
    showStatus(event.text);
  } else {
    showStatus(`${event.error.code}: ${event.error.message}`, true);
  }
}

function render(): void {
  const view = session?.room;
  if (!dirty || session === null || view === null || view === undefined) return;
  dirty = false;
  showRoom(view);
  renderRoom(ui.lines, view, session.serverNow());
}

async function enter(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  const name = ui.name.value.trim();
  if (!name) return;
  localStorage.setItem(NAME_KEY, name);
  ui.join.disabled = true;
  try {
    if (session === null) {
      showStatus("signing in...");
      session = await StudySession.start(name);
      session.subscribe(onSessionEvent);
    }
    const clock = session.clockEstimate;
    const target = ui.room.value.trim();
    showStatus(target ? "joining..." : "creating a room...");
    let view: RoomView;
    if (target) {
      view = await session.joinByIdOrInvite(target);
    } else {
      const created = await session.createAndJoin(`${name}'s room`);
      view = created.view;
      ui.invite.textContent = created.room.invite_code;
    }
    ui.room.value = view.roomId;
    showStatus(`in ${view.name} as slot ${view.mySlot ?? "-"}`
      + (clock ? ` (clock offset ${clock.offsetMs.toFixed(0)} ms, rtt ${clock.rttMs.toFixed(0)} ms)` : ""));
    dirty = true;
    render();
  } catch (err) {
    showStatus(describeError(err), true);
  } finally {
    ui.join.disabled = false;
  }
}

async function toggleCamera(): Promise<void> {
  if (tracker !== null) {
    tracker.stop();
    tracker = null;
    ui.video.hidden = true;
    ui.camera.textContent = "Start camera";
    ui.cameraStatus.textContent = "";
    return;
  }
  ui.camera.disabled = true;
  ui.cameraStatus.textContent = "loading the face tracker...";
  try {
    let sent = 0;
    tracker = await FaceTracker.create({
      onFrame: (frame) => {
        session?.sendFrame(frame);
        sent += 1;
        if (sent % 30 === 0) ui.cameraStatus.textContent = `${sent} frames sent`;
      },
      onError: (err) => {
        ui.cameraStatus.textContent = `tracking error: ${describeError(err)}`;
      },
    });
    await tracker.start(ui.video);
    ui.video.hidden = false;
    ui.camera.textContent = "Stop camera";
    ui.cameraStatus.textContent = "tracking";
  } catch (err) {
    tracker = null;
    ui.cameraStatus.textContent = err instanceof FaceSetupError ? err.message : describeError(err);
  } finally {
    ui.camera.disabled = false;
  }
}

ui.name.value = localStorage.getItem(NAME_KEY) ?? "";
ui.room.value = roomFromHash();
ui.form.addEventListener("submit", (e) => void enter(e));
ui.camera.addEventListener("click", () => void toggleCamera());
setInterval(() => {
  if (session?.room) dirty = true; // the timer and "for m:ss" advance
}, 1000);
setInterval(render, RENDER_INTERVAL_MS);

/**
 * The single page of the client: hash routes (ui/route.ts) mount the lobby, a room (member
 * or spectator), a replay or the progress page into #app. DOM wiring only: the protocol is
 * in session.ts, the room state in room.ts, the pure page logic in ui/*.ts.
 *
 * Test hook for end-to-end tests: `window.studyverse = {session, stage, view, timerText}`
 * (README "Web client").
 */

import { ApiError } from "./api";
import type { RoomView } from "./room";
import type { StudySession } from "./session";
import { App } from "./ui/app";
import type { AvatarStageLike } from "./ui/avatars";
import { describeError, h } from "./ui/dom";
import { mountLobby } from "./ui/lobby";
import { mountProgress } from "./ui/progress";
import { mountReplay } from "./ui/replay";
import { parseRoute, routeHash } from "./ui/route";
import { mountRoom } from "./ui/roompage";

/** The end-to-end test hook on `window.studyverse`. */
export interface StudyverseHook {
  readonly session: StudySession | null;
  readonly stage: AvatarStageLike | null;
  view(): RoomView | null;
  timerText(): string;
}

declare global {
  interface Window {
    studyverse: StudyverseHook;
  }
}

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`page has no #${id}`);
  return found as T;
}

const root = element<HTMLElement>("app");
const app = new App(element<HTMLElement>("status"));
const who = element<HTMLElement>("nav-who");
let unmount: () => void = () => {};

window.studyverse = {
  get session() { return app.session; },
  get stage() { return app.stage; },
  view: () => app.session?.room ?? null,
  timerText: () => app.timerText(),
};

function showRoute(): void {
  unmount();
  unmount = () => {};
  app.status("");
  const route = parseRoute(location.hash);
  try {
    switch (route.page) {
      case "lobby": unmount = mountLobby(app, root); break;
      case "progress": unmount = mountProgress(app, root); break;
      case "room": unmount = mountRoom(app, root, route.roomId, "member"); break;
      case "watch": unmount = mountRoom(app, root, route.roomId, "spectator"); break;
      case "replay": unmount = mountReplay(app, root, route.recordingId, route.wholeRoom); break;
    }
  } catch (err) {
    root.replaceChildren(h("p", { class: "error" }, describeError(err)));
  }
}

function showWho(): void {
  const s = app.auth.session;
  who.textContent = s === null ? "not signed in"
    : `${s.user.display_name}${s.user.is_guest ? " (guest)" : ""}`;
}

async function boot(): Promise<void> {
  app.auth.onChange(showWho);
  try {
    await app.auth.resume();
  } catch (err) {
    app.status(err instanceof ApiError ? `sign-in: ${describeError(err)}` : describeError(err), true);
  }
  showWho();
  const route = parseRoute(location.hash);
  if (app.auth.session === null && route.page !== "lobby") {
    // a room link opened signed out: sign in first, then come back to it
    sessionStorage.setItem("studyverse.after_sign_in", location.hash);
    history.replaceState(null, "", routeHash({ page: "lobby" }) || location.pathname);
  }
  app.auth.onChange((s) => {
    const next = sessionStorage.getItem("studyverse.after_sign_in");
    if (s !== null && next) {
      sessionStorage.removeItem("studyverse.after_sign_in");
      location.hash = next;
    }
  });
  window.addEventListener("hashchange", showRoute);
  showRoute();
}

void boot();

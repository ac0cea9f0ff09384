/**
 * The lobby: sign in (guest name, or login / register; a guest registering keeps its
 * progress), the public room list (`GET /api/rooms`, refreshed every few seconds with live
 * occupancy and timer phase), create a room (name, capacity, public/private), join by invite
 * code or room id, and one's recordings to replay.
 */

import type { CreatedRoom, LobbyPage, LobbyRoom } from "../protocol";
import { isRoomId } from "../session";
import type { App } from "./app";
import { describeError, h, setText } from "./dom";
import { lobbyStatus } from "./format";
import { routeHash } from "./route";

/** Pages of 50 public rooms the lobby reads per refresh. */
const LOBBY_PAGES = 4;

const NAME_KEY = "studyverse.display_name";
/** Lobby refresh interval, ms. */
export const LOBBY_REFRESH_MS = 5_000;
/** The invite code of rooms this tab created, per room id (only the creator learns it). */
export const INVITE_KEY = "studyverse.invites";

export function rememberInvite(roomId: string, code: string): void {
  const all = JSON.parse(sessionStorage.getItem(INVITE_KEY) ?? "{}") as Record<string, string>;
  all[roomId] = code;
  sessionStorage.setItem(INVITE_KEY, JSON.stringify(all));
}

export function knownInvite(roomId: string): string | null {
  const all = JSON.parse(sessionStorage.getItem(INVITE_KEY) ?? "{}") as Record<string, string>;
  return all[roomId] ?? null;
}

export function mountLobby(app: App, root: HTMLElement): () => void {
  const who = h("p", { "data-testid": "who" });
  const signIn = h("section", { class: "card" });
  const rooms = h("ul", { class: "rooms", "data-testid": "lobby-rooms" });
  const roomsNote = h("p", { class: "muted" });
  const ghosts = h("ul", { class: "rooms", "data-testid": "lobby-ghosts" });
  let lobby: LobbyRoom[] = [];

  const go = (hash: string): void => {
    location.hash = hash;
  };

  // --- sign-in -------------------------------------------------------------------------
  function renderSignIn(): void {
    const s = app.auth.session;
    if (s !== null) {
      setText(who, `Signed in as ${s.user.display_name}`
        + (s.user.is_guest ? " (guest)" : ` (@${s.user.username ?? ""})`));
      const out = h("button", { type: "button", onclick: () => void app.auth.logout().then(renderAll) },
        "Sign out");
      const upgrade = s.user.is_guest ? accountForm("Register to keep your progress", "register") : null;
      signIn.replaceChildren(who, out, upgrade ?? "");
      return;
    }
    const nameInput = h("input", { id: "display-name", maxlength: 40, required: true,
      autocomplete: "nickname", value: localStorage.getItem(NAME_KEY) ?? "" });
    const guestForm = h("form", { id: "guest-form", onsubmit: (e: Event) => {
      e.preventDefault();
      const name = nameInput.value.trim();
      if (!name) return;
      localStorage.setItem(NAME_KEY, name);
      void run("signing in...", () => app.auth.guest(name));
    } }, h("label", {}, "Your name ", nameInput), h("button", { type: "submit", id: "guest" },
      "Continue as guest"));
    signIn.replaceChildren(h("h2", {}, "Sign in"), guestForm,
      accountForm("Or log in", "login"), accountForm("Or register", "register"));
  }

  function accountForm(title: string, mode: "login" | "register"): HTMLElement {
    const user = h("input", { name: "username", minlength: 3, maxlength: 32, required: true,
      autocomplete: "username" });
    const pass = h("input", { name: "password", type: "password", minlength: 10, maxlength: 128,
      required: true, autocomplete: mode === "login" ? "current-password" : "new-password" });
    const display = h("input", { name: "display_name", maxlength: 40,
      value: app.auth.session?.user.display_name ?? localStorage.getItem(NAME_KEY) ?? "" });
    return h("form", { class: `account ${mode}`, onsubmit: (e: Event) => {
      e.preventDefault();
      void run(mode === "login" ? "logging in..." : "registering...", () => mode === "login"
        ? app.auth.login(user.value.trim(), pass.value)
        : app.auth.register(user.value.trim(), pass.value, display.value.trim() || undefined));
    } }, h("h3", {}, title), h("label", {}, "Username ", user), h("label", {}, "Password ", pass),
    mode === "register" ? h("label", {}, "Display name ", display) : null,
    h("button", { type: "submit" }, mode === "login" ? "Log in" : "Register"));
  }

  async function run(busy: string, action: () => Promise<unknown>): Promise<void> {
    app.status(busy);
    try {
      await action();
      app.status("");
      renderAll();
    } catch (err) {
      app.status(describeError(err), true);
    }
  }

  // --- rooms ---------------------------------------------------------------------------
  async function refreshRooms(): Promise<void> {
    try {
      // follow next_cursor for up to LOBBY_PAGES pages (the busiest rooms come first)
      const found: LobbyRoom[] = [];
      let cursor: string | null = null;
      for (let i = 0; i < LOBBY_PAGES; i++) {
        const query: string = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
        const page: LobbyPage = await app.api.request<LobbyPage>("GET",
          `/api/rooms?limit=50${query}`);
        found.push(...page.rooms);
        cursor = page.next_cursor;
        if (cursor === null) break;
      }
      lobby = found;
      setText(roomsNote, lobby.length === 0 ? "No public rooms yet: create one."
        : cursor !== null ? `Showing the first ${lobby.length} public rooms.` : "");
      renderRooms();
    } catch (err) {
      setText(roomsNote, `room list: ${describeError(err)}`);
    }
  }

  function renderRooms(): void {
    const now = app.session?.serverNow() ?? Date.now();
    const signedIn = app.auth.session !== null;
    rooms.replaceChildren(...lobby.map((r) => h("li", { "data-room-id": r.room_id },
      h("strong", {}, r.name), ` by ${r.owner_display_name} · `,
      h("span", { class: "status" }, lobbyStatus(r, now)), " ",
      h("button", { type: "button", disabled: !signedIn || r.members >= r.capacity,
        onclick: () => go(routeHash({ page: "room", roomId: r.room_id })) }, "Join"), " ",
      h("button", { type: "button", disabled: !signedIn,
        onclick: () => go(routeHash({ page: "watch", roomId: r.room_id })) }, "Watch"))));
  }

  const roomName = h("input", { id: "room-name", maxlength: 80, required: true });
  const capacity = h("input", { id: "room-capacity", type: "number", min: 1, max: 250, value: 8 });
  const isPublic = h("input", { id: "room-public", type: "checkbox", checked: true });
  const createForm = h("form", { id: "create-form", onsubmit: (e: Event) => {
    e.preventDefault();
    void run("creating the room...", async () => {
      const room = await app.api.request<CreatedRoom>("POST", "/api/rooms", {
        name: roomName.value.trim(), capacity: Number(capacity.value) || undefined,
        is_public: isPublic.checked,
      }, app.auth.token());
      rememberInvite(room.room_id, room.invite_code);
      go(routeHash({ page: "room", roomId: room.room_id }));
    });
  } }, h("h2", {}, "Create a room"), h("label", {}, "Name ", roomName),
  h("label", {}, "Capacity ", capacity), h("label", {}, isPublic, " public (listed here)"),
  h("button", { type: "submit", id: "create" }, "Create"));

  const code = h("input", { id: "invite", maxlength: 64, required: true,
    placeholder: "invite code or room id" });
  const joinForm = h("form", { id: "invite-form", onsubmit: (e: Event) => {
    e.preventDefault();
    const text = code.value.trim();
    void run("joining...", async () => {
      const roomId = isRoomId(text)
        ? text
        : (await app.api.roomByInvite(app.auth.token(), text)).room_id;
      go(routeHash({ page: "room", roomId }));
    });
  } }, h("h2", {}, "Join by invite"), code, h("button", { type: "submit", id: "join" }, "Join"));

  async function refreshGhosts(): Promise<void> {
    if (app.auth.session === null) {
      ghosts.replaceChildren();
      return;
    }
    try {
      const list = await app.ghosts(20);
      ghosts.replaceChildren(...list.filter((g) => g.ended_ms !== null).map((g) => h("li", {},
        `${g.display_name} · ${new Date(g.started_ms).toLocaleString()} · `
        + `${Math.round(g.duration_ms / 60000)} min, ${Math.round(g.focus_share * 100)} % focused `,
        h("button", { type: "button",
          onclick: () => go(routeHash({ page: "replay", recordingId: g.id, wholeRoom: false })) },
        "Replay"), " ",
        h("button", { type: "button",
          onclick: () => go(routeHash({ page: "replay", recordingId: g.id, wholeRoom: true })) },
        "Whole room"), " ",
        g.mine ? visibilitySelect(g.id, g.visibility) : null)));
    } catch (err) {
      ghosts.replaceChildren(h("li", { class: "muted" }, `recordings: ${describeError(err)}`));
    }
  }

  /** Who may see one's recording (`PATCH /api/ghosts/{id}`): private, link, or room (the
   * people who studied in its room: needed for their whole-room replays and ghosts). */
  function visibilitySelect(id: string, current: string): HTMLSelectElement {
    const sel = h("select", { "aria-label": "visibility", class: "visibility" },
      ...["private", "link", "room"].map((v) => h("option", { value: v, selected: v === current },
        v === "room" ? "shared with the room" : v)));
    sel.addEventListener("change", () => {
      app.api.request("PATCH", `/api/ghosts/${encodeURIComponent(id)}`, { visibility: sel.value },
        app.auth.token()).then(() => app.status(`recording is now ${sel.value}`),
        (err: unknown) => app.status(describeError(err), true));
    });
    return sel;
  }

  const roomsCard = h("section", { class: "card" }, h("h2", {}, "Public rooms"), roomsNote, rooms);
  const actions = h("section", { class: "card" }, createForm, joinForm);
  const replays = h("section", { class: "card" }, h("h2", {}, "Recordings"), ghosts);

  const back = h("p", { class: "card", hidden: true });

  function renderBack(): void {
    const view = app.session?.room ?? null;
    const role = app.session?.currentRole ?? null;
    back.hidden = view === null || role === "replay" || role === null;
    if (view === null || back.hidden) return;
    const page = role === "spectator" ? "watch" : "room";
    back.replaceChildren(`You are still in ${view.name}${role === "spectator" ? " (watching)" : ""}. `,
      h("a", { href: routeHash({ page, roomId: view.roomId }) }, "Back to the room"));
  }

  function renderAll(): void {
    renderBack();
    renderSignIn();
    const signedIn = app.auth.session !== null;
    actions.hidden = !signedIn;
    replays.hidden = !signedIn;
    if (!roomName.value && app.auth.session) {
      roomName.value = `${app.auth.session.user.display_name}'s room`;
    }
    renderRooms();
    void refreshGhosts();
  }

  root.replaceChildren(h("div", { class: "page lobby" }, back, signIn, actions, roomsCard, replays));
  renderAll();
  void refreshRooms();
  const refresh = setInterval(() => void refreshRooms(), LOBBY_REFRESH_MS);
  const tick = setInterval(renderRooms, 1000);
  const unsub = app.auth.onChange(() => renderAll());
  return () => {
    clearInterval(refresh);
    clearInterval(tick);
    unsub();
  };
}

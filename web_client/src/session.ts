/**
 * One signed-in browser tab: a guest session, its Socket.IO connection, the clock offset and
 * the room it is in. Server events update the RoomView (room.ts) and notify listeners; the
 * page (main.ts) and later the avatar scene and HUD subscribe to it. No DOM here.
 *
 * Sequence (README "Socket.IO protocol"): POST /api/auth/guest -> connect with {token} ->
 * time_sync x5 (min RTT) -> POST /api/rooms (create) or POST /api/rooms/join (invite code)
 * -> room_join. After a reconnect it joins again with the last resume_token, so the member
 * keeps its slot within the server's resume window.
 */

import { Api } from "./api";
import { localEpochMs, serverTime, type ClockEstimate } from "./clock";
import type { Bytes } from "./frame";
import type {
  BossDefeated, ChatMessage, CreatedRoom, GhostRaceEntry, GuestSession, MessagesPage,
  ReplayEvent, ReplayState, RewardEvent, Role, ServerError, TimerState,
} from "./protocol";
import {
  bossChanged, chatReceived, decodeFrames, framesDecoded, fromJoinAck, fromReplay,
  fromRoomState, ghostRaceChanged, memberJoined, memberLeft, memberState, olderMessages,
  spectatorsChanged, timerChanged, type DecodedFrames, type RoomView,
} from "./room";
import { StudySocket } from "./socket";

/** Where the session takes its access token from: a fixed guest session, or the page's
 * Auth, which refreshes it (asked again on every reconnect). */
export interface TokenSource {
  token(): string;
  readonly session: GuestSession | null;
}

/** The `timer_start` body: minutes and cycles (server defaults 25/5/15/4). */
export interface TimerStartOptions {
  focus_min?: number;
  break_min?: number;
  long_break_min?: number;
  cycles?: number;
}

/** How often a connected session re-estimates the clock offset, ms (clocks drift; the
 * ring is only as right as the offset). */
export const CLOCK_RESYNC_MS = 5 * 60_000;

/** Longest wait before reconnecting after `server_shutdown`, ms (the server jitters 0-999). */
export const MAX_SHUTDOWN_RETRY_MS = 5_000;

/** After a disconnect for `reason`, how long to wait before reconnecting by hand, or null
 * to leave it to the client: socket.io retries transport failures by itself but never a
 * server-side disconnect ("io server disconnect"), which a draining node's is; a
 * `server_shutdown` said so just before (`retryInMs`, null if none came). A server-side
 * disconnect without it (a takeover) is final. */
export function shutdownReconnectDelay(reason: string, retryInMs: number | null): number | null {
  if (reason !== "io server disconnect" || retryInMs === null) return null;
  const ms = Number.isFinite(retryInMs) ? retryInMs : 0;
  return Math.min(MAX_SHUTDOWN_RETRY_MS, Math.max(0, ms));
}

/** Whether a disconnect must not be retried: the server took the slot over for another
 * connection of the same user (an `error {code: "conflict"}` came first). The reason is
 * "io server disconnect", or "parse error" with python-socketio's msgpack DISCONNECT packet,
 * which carries `data: nil` that socket.io-msgpack-parser rejects, so the client would
 * otherwise reconnect by itself and take the slot back. */
export function disconnectIsFinal(reason: string, takenOver: boolean): boolean {
  return takenOver && (reason === "io server disconnect" || reason === "parse error");
}

export type TimerCommand = "timer_pause" | "timer_resume" | "timer_skip" | "timer_stop";

/** Room ids are UUIDs; anything else typed into the room field is an invite code. */
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isRoomId(text: string): boolean {
  return UUID_RE.test(text.trim());
}

export type SessionEvent =
  | { kind: "room"; view: RoomView }
  | { kind: "frames"; frames: DecodedFrames }
  | { kind: "reward"; reward: RewardEvent }
  | { kind: "boss_defeated"; defeated: BossDefeated }
  | { kind: "replay"; replay: ReplayState; atMs: number }
  | { kind: "replay_event"; event: ReplayEvent }
  | { kind: "replay_ended"; recordingId: string }
  | { kind: "status"; text: string }
  | { kind: "error"; error: ServerError };

type Listener = (event: SessionEvent) => void;

export class StudySession {
  readonly socket: StudySocket;
  private view: RoomView | null = null;
  private clock: ClockEstimate | null = null;
  private resumeToken: string | null = null;
  private role: Role | "replay" = "member";
  private replayState: ReplayState | null = null;
  private resyncTimer: ReturnType<typeof setInterval> | null = null;
  private shutdownRetryMs: number | null = null;
  private takenOver = false;
  private closed = false;
  private readonly listeners = new Set<Listener>();

  private constructor(readonly api: Api, private readonly auth: TokenSource, url: string) {
    this.socket = new StudySocket({ url, token: () => this.auth.token() });
    this.socket.on("room_state", (state) => {
      if (this.role !== "replay") this.update(fromRoomState(state, this.view));
    });
    this.socket.on("member_joined", (e) => this.updateIf((v) => memberJoined(v, e)));
    this.socket.on("member_left", (e) => this.updateIf((v) => memberLeft(v, e)));
    this.socket.on("member_state", (e) => this.updateIf((v) => memberState(v, e)));
    this.socket.on("spectators", (e) => this.updateIf((v) => spectatorsChanged(v, e)));
    this.socket.on("timer", (t) => this.updateIf((v) => timerChanged(v, t)));
    this.socket.on("frames", (data) => {
      const frames = decodeFrames(data);
      this.updateIf((v) => framesDecoded(v, frames));
      this.emit({ kind: "frames", frames });
    });
    // a fight that ends without a kill sends `boss` with null (no payload at all, here)
    this.socket.on("boss", (b) => this.updateIf((v) => bossChanged(v, b ?? null)));
    this.socket.on("chat_message", (m) => this.updateIf((v) => chatReceived(v, m)));
    this.socket.on("ghost_race", (r) => this.updateIf((v) => ghostRaceChanged(v, r.ghosts)));
    this.socket.on("boss_defeated", (defeated) => this.emit({ kind: "boss_defeated", defeated }));
    this.socket.on("reward", (reward) => this.emit({ kind: "reward", reward }));
    this.socket.on("replay_event", (event) => {
      if (event.kind === "timer" && event.payload !== null && typeof event.payload === "object") {
        this.updateIf((v) => timerChanged(v, event.payload as TimerState));
      }
      this.emit({ kind: "replay_event", event });
    });
    this.socket.on("replay_ended", (e) => {
      if (this.replayState !== null) {
        this.replayState = { ...this.replayState, paused: true,
          position_ms: this.replayState.duration_ms };
        this.emit({ kind: "replay", replay: this.replayState, atMs: localEpochMs() });
      }
      this.emit({ kind: "replay_ended", recordingId: e.recording_id });
    });
    this.socket.on("error", (error) => {
      if (error?.code === "conflict") this.takenOver = true;
      this.emit({ kind: "error", error });
    });
    this.socket.on("server_shutdown", (e) => {
      this.shutdownRetryMs = typeof e?.retry_in_ms === "number" ? e.retry_in_ms : 0;
    });
    this.socket.socket.on("disconnect", (reason) => {
      if (disconnectIsFinal(reason, this.takenOver)) {
        this.takenOver = false;
        this.shutdownRetryMs = null;
        this.socket.socket.disconnect(); // no automatic reconnect
        this.emit({ kind: "status",
          text: "disconnected: this account joined from another tab or device" });
        return;
      }
      const delay = shutdownReconnectDelay(reason, this.shutdownRetryMs);
      this.shutdownRetryMs = null;
      if (delay !== null) {
        setTimeout(() => {
          if (!this.closed && !this.socket.connected) this.socket.socket.connect();
        }, delay);
      }
      const final = reason === "io server disconnect" && delay === null;
      this.emit({ kind: "status", text: final
        ? `disconnected by the server (${reason})`
        : `disconnected (${reason}); reconnecting` });
    });
    // every connect after the first (the client reconnects by itself) joins the room again
    this.socket.socket.on("connect", () => void this.rejoin());
    this.socket.socket.on("connect_error", (err: Error & { data?: { code?: string } }) => {
      // a refused token (expired: guests cannot refresh) is not retried by the client
      this.emit({ kind: "error", error: { code: err.data?.code ?? "transport", message: err.message } });
    });
  }

  /** Sign in as a guest, connect and synchronise the clock. `baseUrl` "" = this page's
   * origin. Throws ApiError, ConnectError or AckError. */
  static async start(displayName: string, baseUrl = ""): Promise<StudySession> {
    const api = new Api(baseUrl);
    const guest = await api.guest(displayName);
    return StudySession.connect(api, { token: () => guest.access_token, session: guest }, baseUrl);
  }

  /** Connect with the tokens of `auth` (a signed-in Auth) and synchronise the clock. Throws
   * ConnectError or AckError. */
  static async connect(api: Api, auth: TokenSource, baseUrl = ""): Promise<StudySession> {
    const session = new StudySession(api, auth, baseUrl);
    await session.socket.connect();
    session.clock = await session.socket.timeSync();
    session.resyncTimer = setInterval(() => void session.resyncClock(), CLOCK_RESYNC_MS);
    return session;
  }

  /** The signed-in user's session (guest or account) at this moment. */
  get guest(): GuestSession {
    const s = this.auth.session;
    if (s === null) throw new Error("signed out");
    return s;
  }

  get userId(): string | null {
    return this.auth.session?.user.id ?? null;
  }

  /** How this socket is in its room: "member", "spectator", or "replay" (null: in none). */
  get currentRole(): Role | "replay" | null {
    return this.view === null ? null : this.role;
  }

  /** The running replay's last acknowledged state, null when none. */
  get replay(): ReplayState | null {
    return this.replayState;
  }

  /** Listen to room updates, status lines and server errors; returns an unsubscribe. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get room(): RoomView | null {
    return this.view;
  }

  get clockEstimate(): ClockEstimate | null {
    return this.clock;
  }

  /** The server's epoch ms now (local clock until the first time_sync). */
  serverNow(): number {
    const local = localEpochMs();
    return this.clock === null ? local : serverTime(this.clock, local);
  }

  /** Create a room owned by this guest and join it as a member; also gives the room's
   * invite code. */
  async createAndJoin(
    name: string, capacity?: number, isPublic?: boolean,
  ): Promise<{ view: RoomView; room: CreatedRoom }> {
    const body: Record<string, unknown> = { name };
    if (capacity !== undefined) body.capacity = capacity;
    if (isPublic !== undefined) body.is_public = isPublic;
    const room = await this.api.request<CreatedRoom>("POST", "/api/rooms", body, this.auth.token());
    return { view: await this.join(room.room_id), room };
  }

  /** Join by room id, or by invite code when `roomOrInvite` is not a UUID. */
  async joinByIdOrInvite(roomOrInvite: string, role: Role = "member"): Promise<RoomView> {
    const text = roomOrInvite.trim();
    const roomId = isRoomId(text)
      ? text
      : (await this.api.roomByInvite(this.auth.token(), text)).room_id;
    return this.join(roomId, role);
  }

  /** `room_join`; the ack's RoomState becomes the view. */
  async join(roomId: string, role: Role = "member"): Promise<RoomView> {
    if (this.role === "replay" && this.replayState !== null) await this.stopReplay();
    const ack = await this.socket.joinRoom({ room_id: roomId, role });
    this.role = role;
    this.resumeToken = ack.resume_token;
    this.update(fromJoinAck(ack, null));
    return this.view as RoomView;
  }

  /** `room_leave` (if in a room) and forget the room. */
  async leave(): Promise<void> {
    const wasIn = this.view !== null && this.role !== "replay";
    if (this.role === "replay" && this.replayState !== null) await this.stopReplay();
    this.view = null;
    this.resumeToken = null;
    if (wasIn && this.socket.connected) await this.socket.leaveRoom();
  }

  /** `timer_start` (room owner only); the ack's timer becomes the view's. */
  async startTimer(options: TimerStartOptions = {}): Promise<TimerState> {
    const { timer } = await this.socket.call<{ timer: TimerState }>("timer_start", options);
    this.updateIf((v) => timerChanged(v, timer));
    return timer;
  }

  /** `timer_pause` / `timer_resume` / `timer_skip` / `timer_stop` (room owner only). */
  async timerCommand(command: TimerCommand): Promise<TimerState> {
    const { timer } = await this.socket.call<{ timer: TimerState }>(command);
    this.updateIf((v) => timerChanged(v, timer));
    return timer;
  }

  /** `chat_send`; the acknowledged message is added to the view (the server does not echo
   * it to the sender's socket). */
  async sendChat(text: string): Promise<ChatMessage> {
    const { message } = await this.socket.call<{ message: ChatMessage }>("chat_send", { text });
    this.updateIf((v) => chatReceived(v, message));
    return message;
  }

  /** Page back in the room's chat (`GET /api/rooms/{id}/messages?before=`); false when
   * there is nothing older. */
  async loadOlderMessages(limit = 50): Promise<boolean> {
    const view = this.view;
    if (view === null || view.olderBefore === null) return false;
    const q = new URLSearchParams({ before: view.olderBefore, limit: String(limit) });
    const page = await this.api.request<MessagesPage>("GET",
      `/api/rooms/${encodeURIComponent(view.roomId)}/messages?${q}`, undefined, this.auth.token());
    this.updateIf((v) => (v.roomId === view.roomId ? olderMessages(v, page) : v));
    return page.messages.length > 0;
  }

  /** `ghost_add` (room owner): a recording joins the room as a ghost. */
  addGhost(recordingId: string): Promise<{ ghost: { slot: number } }> {
    return this.socket.call("ghost_add", { recording_id: recordingId });
  }

  /** `ghost_remove` (room owner). */
  removeGhost(recordingId: string): Promise<object> {
    return this.socket.call("ghost_remove", { recording_id: recordingId });
  }

  /** `replay_watch`: watch a recording (the whole room's phase with `wholeRoom`); leaves a
   * live room first (members may not watch). The view becomes the replay's members. */
  async watchReplay(recordingId: string, speed = 1, wholeRoom = false): Promise<ReplayState> {
    if (this.view !== null && this.role !== "replay") await this.leave();
    const { replay } = await this.socket.call<{ replay: ReplayState }>("replay_watch",
      { recording_id: recordingId, speed, whole_room: wholeRoom });
    this.role = "replay";
    this.replayState = replay;
    this.update(fromReplay(replay, null));
    this.emit({ kind: "replay", replay, atMs: localEpochMs() });
    return replay;
  }

  /** `replay_control`: pause/resume, speed, seek (ms from the start). */
  async controlReplay(change: { paused?: boolean; speed?: number; seek_ms?: number }): Promise<ReplayState> {
    const { replay } = await this.socket.call<{ replay: ReplayState }>("replay_control", change);
    this.replayState = replay;
    this.emit({ kind: "replay", replay, atMs: localEpochMs() });
    return replay;
  }

  /** `replay_stop`, and forget the replay's view. */
  async stopReplay(): Promise<void> {
    this.replayState = null;
    this.view = null;
    this.role = "member";
    try {
      await this.socket.call("replay_stop");
    } catch {
      // already ended (conflict): nothing runs
    }
  }

  /** Send one avatar frame while a member of a room (dropped otherwise). */
  sendFrame(frame: Bytes): void {
    const slot = this.view?.mySlot;
    if (slot !== null && slot !== undefined && this.socket.connected) {
      this.socket.sendFrame(frame);
    }
  }

  /** Re-estimate the clock offset now (kept as it was if the exchange fails). */
  async resyncClock(): Promise<void> {
    if (!this.socket.connected) return;
    try {
      this.clock = await this.socket.timeSync();
    } catch {
      // a reconnect syncs again
    }
  }

  close(): void {
    this.closed = true;
    if (this.resyncTimer !== null) clearInterval(this.resyncTimer);
    this.resyncTimer = null;
    this.socket.disconnect();
    this.listeners.clear();
  }

  private async rejoin(): Promise<void> {
    const view = this.view;
    if (view === null) return;
    if (this.role === "replay") {
      // a replay lives in the old connection's task: it ended with it
      this.emit({ kind: "status", text: "reconnected; the replay stopped, start it again" });
      return;
    }
    try {
      this.clock = await this.socket.timeSync();
      const ack = await this.socket.joinRoom({
        room_id: view.roomId, role: this.role === "spectator" ? "spectator" : "member",
        ...(this.resumeToken !== null ? { resume_token: this.resumeToken } : {}),
      });
      this.resumeToken = ack.resume_token;
      this.update(fromJoinAck(ack, view));
      this.emit({ kind: "status", text: ack.resumed ? "reconnected, slot resumed" : "rejoined" });
    } catch (err) {
      const e = err as { code?: string; message?: string };
      this.emit({ kind: "error", error: { code: e.code ?? "internal", message: String(e.message) } });
    }
  }

  private update(view: RoomView): void {
    this.view = view;
    this.emit({ kind: "room", view });
  }

  private updateIf(step: (view: RoomView) => RoomView): void {
    if (this.view !== null) this.update(step(this.view));
  }

  private emit(event: SessionEvent): void {
    for (const listener of this.listeners) listener(event);
  }
}

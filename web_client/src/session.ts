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
import type { CreatedRoom, GuestSession, Role, ServerError } from "./protocol";
import {
  fromJoinAck, fromRoomState, framesReceived, memberJoined, memberLeft, memberState,
  timerChanged, type RoomView,
} from "./room";
import { StudySocket } from "./socket";

/** Room ids are UUIDs; anything else typed into the room field is an invite code. */
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isRoomId(text: string): boolean {
  return UUID_RE.test(text.trim());
}

export type SessionEvent =
  | { kind: "room"; view: RoomView }
  | { kind: "status"; text: string }
  | { kind: "error"; error: ServerError };

type Listener = (event: SessionEvent) => void;

export class StudySession {
  readonly socket: StudySocket;
  private view: RoomView | null = null;
  private clock: ClockEstimate | null = null;
  private resumeToken: string | null = null;
  private role: Role = "member";
  private readonly listeners = new Set<Listener>();

  private constructor(readonly api: Api, readonly guest: GuestSession, url: string) {
    this.socket = new StudySocket({ url, token: () => this.guest.access_token });
    this.socket.on("room_state", (state) => this.update(fromRoomState(state, this.view)));
    this.socket.on("member_joined", (e) => this.updateIf((v) => memberJoined(v, e)));
    this.socket.on("member_left", (e) => this.updateIf((v) => memberLeft(v, e)));
    this.socket.on("member_state", (e) => this.updateIf((v) => memberState(v, e)));
    this.socket.on("timer", (t) => this.updateIf((v) => timerChanged(v, t)));
    this.socket.on("frames", (data) => this.updateIf((v) => framesReceived(v, data)));
    this.socket.on("error", (error) => this.emit({ kind: "error", error }));
    this.socket.socket.on("disconnect", (reason) => {
      this.emit({ kind: "status", text: `disconnected (${reason}); reconnecting` });
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
    const session = new StudySession(api, await api.guest(displayName), baseUrl);
    await session.socket.connect();
    session.clock = await session.socket.timeSync();
    return session;
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
    name: string, capacity?: number,
  ): Promise<{ view: RoomView; room: CreatedRoom }> {
    const room = await this.api.createRoom(this.guest.access_token, name, capacity);
    return { view: await this.join(room.room_id), room };
  }

  /** Join by room id, or by invite code when `roomOrInvite` is not a UUID. */
  async joinByIdOrInvite(roomOrInvite: string, role: Role = "member"): Promise<RoomView> {
    const text = roomOrInvite.trim();
    const roomId = isRoomId(text)
      ? text
      : (await this.api.roomByInvite(this.guest.access_token, text)).room_id;
    return this.join(roomId, role);
  }

  /** `room_join`; the ack's RoomState becomes the view. */
  async join(roomId: string, role: Role = "member"): Promise<RoomView> {
    const ack = await this.socket.joinRoom({ room_id: roomId, role });
    this.role = role;
    this.resumeToken = ack.resume_token;
    this.update(fromJoinAck(ack, null));
    return this.view as RoomView;
  }

  /** Send one avatar frame while a member of a room (dropped otherwise). */
  sendFrame(frame: Bytes): void {
    const slot = this.view?.mySlot;
    if (slot !== null && slot !== undefined && this.socket.connected) {
      this.socket.sendFrame(frame);
    }
  }

  close(): void {
    this.socket.disconnect();
    this.listeners.clear();
  }

  private async rejoin(): Promise<void> {
    const view = this.view;
    if (view === null) return;
    try {
      this.clock = await this.socket.timeSync();
      const ack = await this.socket.joinRoom({
        room_id: view.roomId, role: this.role,
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

/**
 * Shapes of the HTTP API and Socket.IO events the server speaks today (README.md "HTTP API"
 * and "Socket.IO protocol (as implemented)"; DESIGN.md section 3 is the contract). Field
 * names stay snake_case as on the wire. Times are Unix epoch ms on the server clock.
 */

/** Stable error codes of acks and HTTP errors. */
export type ErrorCode =
  | "bad_request" | "unauthorized" | "forbidden" | "not_found" | "room_full"
  | "rate_limited" | "conflict" | "unavailable" | "internal";

/** `{code, message}`: a failed ack's `error`, an HTTP error body's `error`, the `error`
 * event. */
export interface ServerError {
  code: ErrorCode | string;
  message: string;
}

export type Attention =
  | "focused" | "looking_away" | "eyes_closed" | "no_face" | "distracted" | "idle";

export const ATTENTION_STATES: readonly Attention[] = [
  "focused", "looking_away", "eyes_closed", "no_face", "distracted", "idle",
];

export type MemberKind = "live" | "ghost";

/** One member as RoomState lists it. */
export interface MemberInfo {
  slot: number;
  user_id: string;
  display_name: string;
  kind: MemberKind;
  attention: Attention;
  connected: boolean;
}

export type Phase = "focus" | "short_break" | "long_break" | "idle";

export interface TimerState {
  phase: Phase;
  cycle: number;
  cycles: number;
  index?: number;
  phase_started_ms: number | null;
  phase_ends_ms: number | null;
  paused_at_ms: number | null;
  remaining_ms?: number | null;
  durations: { focus_ms: number; short_break_ms: number; long_break_ms: number } | null;
}

export interface ChatMessage {
  id: string;
  user_id: string;
  display_name: string;
  text: string;
  sent_ms: number;
}

export interface RoomState {
  room_id: string;
  name: string;
  capacity: number;
  owner_id?: string;
  members: MemberInfo[];
  spectators: number;
  timer: TimerState;
  boss: unknown;
  server_ms: number;
  messages?: ChatMessage[];
  ghosts?: unknown[];
}

// --- HTTP --------------------------------------------------------------------------------

/** 201 of `POST /api/auth/guest`. */
export interface GuestSession {
  access_token: string;
  token_type: string;
  expires_in: number;
  user: { id: string; display_name: string; is_guest: boolean };
}

/** 201 of `POST /api/rooms`. */
export interface CreatedRoom {
  room_id: string;
  invite_code: string;
  name: string;
  capacity: number;
  is_public: boolean;
}

/** 200 of `POST /api/rooms/join` (by invite code). */
export interface InvitedRoom {
  room_id: string;
  name: string;
  capacity: number;
  is_public: boolean;
}

// --- Socket.IO ---------------------------------------------------------------------------

export interface TimeSyncAck {
  client_ms: number;
  server_ms: number;
}

export type Role = "member" | "spectator";

export interface RoomJoinRequest {
  room_id: string;
  role?: Role;
  resume_token?: string;
  paper_mode?: boolean;
}

export interface RoomJoinAck {
  room: RoomState;
  slot: number | null; // null for a spectator
  resume_token: string | null;
  resumed?: boolean;
}

/** `member_joined` / `member_left`. */
export interface MemberChange {
  slot: number;
  user_id: string;
  display_name: string;
  kind: MemberKind;
}

/** `member_state`. */
export interface MemberStateEvent {
  slot: number;
  attention: Attention;
  since_ms: number;
  connected?: boolean;
}

/** Server -> client events and their payloads (`frames` is msgpack bin: an ArrayBuffer in
 * the browser). */
export interface ServerEvents {
  room_state: RoomState;
  member_joined: MemberChange;
  member_left: MemberChange;
  member_state: MemberStateEvent;
  frames: ArrayBuffer;
  timer: TimerState;
  error: ServerError;
  [event: string]: unknown;
}

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
  boss: BossState | null;
  server_ms: number;
  messages?: ChatMessage[];
  ghosts?: GhostRaceEntry[];
}

/** `boss` (1 Hz while a set runs; null when the fight ends without a kill) and
 * RoomState.boss. HP whole points, `dps` HP/s, `combo` the damage multiplier (1..1.5),
 * `rage` true while the boss is ahead of the group (more HP share left than focus time
 * share; rooms/rules/boss.py). */
export interface BossState {
  level: number;
  name: string;
  hp: number;
  max_hp: number;
  dps: number;
  combo: number;
  rage: boolean;
}

/** `boss_defeated`: damage per user id (HP) and the kill's XP bonus. */
export interface BossDefeated {
  level: number;
  name: string;
  damage_by_user: Record<string, number>;
  xp_bonus: number;
}

/** One ghost of `ghost_race` / RoomState.ghosts; `ahead_s` > 0: the room is ahead. */
export interface GhostRaceEntry {
  slot: number;
  recording_id: string;
  ghost_focused_s: number;
  room_focused_s: number;
  ahead_s: number;
}

/** `reward`: a member's focus phase was awarded. */
export interface RewardEvent {
  session_id: string;
  xp: number;
  total_xp: number;
  level: number;
  plant: string | null;
  focus_score: number;
  streak: { current: number; best: number; freezes: number; last_day: string | null; day: string };
}

/** The `replay` object of `replay_watch` / `replay_control` acks. */
export interface ReplayState {
  recording_id: string;
  duration_ms: number;
  speed: number;
  position_ms: number;
  paused: boolean;
  whole_room: boolean;
  slot: number;
  user_id: string;
  display_name: string;
  members: { slot: number; recording_id: string; user_id: string; display_name: string }[];
}

/** `server_shutdown`: a draining node is about to close the socket; reconnect after
 * `retry_in_ms` and join again with the resume token. */
export interface ServerShutdown {
  reason: string;
  retry_in_ms: number;
}

/** `replay_event`: a recorded event other than attention, `t_ms` on the replay's clock. */
export interface ReplayEvent {
  t_ms: number;
  kind: string;
  payload: unknown;
}

// --- HTTP --------------------------------------------------------------------------------

/** 201 of `POST /api/auth/guest`; accounts (register, login, refresh) also carry a
 * `refresh_token` and the user's username and timezone. `expires_in`: s. */
export interface GuestSession {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token?: string;
  user: {
    id: string; display_name: string; is_guest: boolean; username?: string; timezone?: string;
  };
}

/** An account session (register, login, refresh). */
export interface AccountSession extends GuestSession {
  refresh_token: string;
}

/** One room of `GET /api/rooms` (the lobby). */
export interface LobbyRoom {
  room_id: string;
  name: string;
  capacity: number;
  owner_display_name: string;
  members: number;
  spectators: number;
  phase: Phase;
  phase_ends_ms: number | null;
  paused_at_ms: number | null;
  created_ms: number;
}

export interface LobbyPage {
  rooms: LobbyRoom[];
  next_cursor: string | null;
}

/** `GET /api/rooms/{id}/messages`: newest first. */
export interface MessagesPage {
  messages: ChatMessage[];
  next_before: string | null;
}

/** One recording of `GET /api/ghosts`. */
export interface GhostInfo {
  id: string;
  user_id: string;
  display_name: string;
  room_id: string | null;
  started_ms: number;
  ended_ms: number | null;
  duration_ms: number;
  visibility: string;
  focused_ms: number;
  present_ms: number;
  focus_share: number;
  chunk_count: number;
  bytes: number;
  mine: boolean;
}

export interface StreakInfo {
  current: number;
  best: number;
  freezes: number;
  last_day: string | null;
  today: string;
  today_counted: boolean;
  today_focused_s: number;
  goal_s: number;
}

/** `GET /api/me/progress`. */
export interface ProgressInfo {
  xp: number;
  level: number;
  level_xp: number;
  next_level_xp: number;
  xp_to_next_level: number;
  level_progress: number;
  streak: StreakInfo;
}

export interface Plant {
  id: string;
  rarity: string;
  planted_ms: number;
  session_id: string;
  room_id: string | null;
}

/** `GET /api/me/garden`. */
export interface Garden {
  plants: Plant[];
  counts: Record<string, number>;
  total: number;
  next_before: number | null;
  next_before_id: string | null;
}

/** One session of `GET /api/me/sessions` (times epoch ms, durations s). */
export interface FocusSession {
  id: string;
  room_id: string | null;
  started_ms: number;
  ended_ms: number;
  planned_s: number;
  actual_s: number;
  focused_s: number;
  interruptions: number;
  completed: boolean;
  focus_score: number;
  xp: number;
  plant: string | null;
}

export interface FocusSessions {
  sessions: FocusSession[];
  from_ms: number;
  to_ms: number;
  next_to: number | null;
  next_before_id: string | null;
}

export type StatsRange = "7d" | "30d" | "all";

export interface StatsWindow {
  range: string;
  timezone: string;
  day_start_hour: number;
  from_ms: number | null;
  to_ms: number;
}

export interface WeeklyPattern {
  window: StatsWindow;
  days: { weekday: number; weekday_name: string; sessions: number; focused_s: number;
    lost_s: number; avg_focus_score: number | null }[];
}

export interface ProductiveHours {
  window: StatsWindow;
  hours: { hour: number; focused_s: number; lost_s: number }[];
}

export interface InterruptionTypes {
  window: StatsWindow;
  types: { kind: string; source: "auto" | "self"; count: number; seconds: number;
    share: number }[];
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
  boss: BossState | null;
  boss_defeated: BossDefeated;
  reward: RewardEvent;
  chat_message: ChatMessage;
  ghost_race: { ghosts: GhostRaceEntry[] };
  spectators: { count: number };
  replay_event: ReplayEvent;
  replay_ended: { recording_id: string };
  server_shutdown: ServerShutdown;
  error: ServerError;
  [event: string]: unknown;
}

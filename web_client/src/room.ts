/**
 * The client's picture of the room it is in, updated by server events. Pure: each update
 * takes a view and an event and returns the next view (the views are never mutated), so the
 * page, and later the avatar scene and HUD, render from one value.
 */

import { decodeBatch, decodeFrame, FrameError, type Bytes, type Frame } from "./frame";
import type {
  Attention, BossState, ChatMessage, GhostRaceEntry, MemberChange, MemberInfo,
  MemberStateEvent, MessagesPage, ReplayState, RoomJoinAck, RoomState, TimerState,
} from "./protocol";

/** Most chat messages a view keeps (older ones are paged back in from the HTTP API). */
export const MAX_MESSAGES = 500;
/** Messages a RoomState carries at most (README "Socket.IO protocol"). */
export const ROOM_STATE_MESSAGES = 50;

/** A member as the page shows it. `sinceMs`: server epoch ms of the last attention change,
 * null until a `member_state` says. */
export interface MemberView extends Readonly<Omit<MemberInfo, "attention">> {
  readonly attention: Attention;
  readonly sinceMs: number | null;
}

/** The latest frame of a member, with the server's send time of the batch it came in. */
export interface LatestFrame {
  readonly frame: Frame;
  readonly serverMs: number;
}

export interface RoomView {
  readonly roomId: string;
  readonly name: string;
  readonly capacity: number;
  readonly ownerId: string | null;
  readonly spectators: number;
  readonly mySlot: number | null;
  readonly members: ReadonlyMap<number, MemberView>;
  readonly timer: TimerState;
  readonly frames: ReadonlyMap<number, LatestFrame>;
  /** Frames or batches the client could not decode (counted, never thrown). */
  readonly badFrames: number;
  /** The boss of the running set, null when none. */
  readonly boss: BossState | null;
  /** Chat, oldest first, unique by id. */
  readonly messages: readonly ChatMessage[];
  /** `before` for the next older page of chat (`GET .../messages?before=`): the oldest
   * message's id, null once the history is exhausted (or the room has no chat yet). */
  readonly olderBefore: string | null;
  /** The ghost race, one entry per ghost. */
  readonly ghostRace: readonly GhostRaceEntry[];
}

function memberView(m: MemberInfo, sinceMs: number | null = null): MemberView {
  return { ...m, sinceMs };
}

/** A view from a full RoomState (the `room_join` ack, or a `room_state` event). Frames of
 * members still present are kept; `mySlot` is kept unless `ack` gives it. */
export function fromRoomState(
  state: RoomState, previous: RoomView | null = null, mySlot?: number | null,
): RoomView {
  const same = previous !== null && previous.roomId === state.room_id;
  const members = new Map<number, MemberView>();
  for (const m of state.members) {
    const old = previous?.roomId === state.room_id ? previous.members.get(m.slot) : undefined;
    const since = old !== undefined && old.attention === m.attention ? old.sinceMs : null;
    members.set(m.slot, memberView(m, since));
  }
  const frames = new Map<number, LatestFrame>();
  if (previous?.roomId === state.room_id) {
    for (const [slot, f] of previous.frames) if (members.has(slot)) frames.set(slot, f);
  }
  return {
    roomId: state.room_id,
    name: state.name,
    capacity: state.capacity,
    ownerId: state.owner_id ?? null,
    spectators: state.spectators,
    mySlot: mySlot !== undefined ? mySlot : (previous?.mySlot ?? null),
    members,
    timer: state.timer,
    frames,
    badFrames: previous?.badFrames ?? 0,
    boss: state.boss ?? null,
    ...mergeMessages(same ? previous : null, state.messages ?? []),
    ghostRace: state.ghosts ?? (same ? previous.ghostRace : []),
  };
}

/** The messages of `previous` and `incoming` together, oldest first, unique by id; the
 * paging cursor is kept from `previous`, or set from the oldest new message. */
function mergeMessages(
  previous: RoomView | null, incoming: readonly ChatMessage[],
): { messages: ChatMessage[]; olderBefore: string | null } {
  const byId = new Map<string, ChatMessage>();
  for (const m of previous?.messages ?? []) byId.set(m.id, m);
  for (const m of incoming) byId.set(m.id, m);
  const messages = [...byId.values()].sort((a, b) => a.sent_ms - b.sent_ms);
  const trimmed = messages.slice(Math.max(0, messages.length - MAX_MESSAGES));
  // a first RoomState with fewer than its 50 messages holds the whole history
  const olderBefore = previous !== null && previous.messages.length > 0
    ? previous.olderBefore
    : (incoming.length >= ROOM_STATE_MESSAGES ? (trimmed[0]?.id ?? null) : null);
  return { messages: trimmed, olderBefore };
}

/** A view for a spectator replay (`replay_watch` ack): its recorded members (kind live,
 * connected), no timer, no chat; frames arrive like a live room's. */
export function fromReplay(replay: ReplayState, previous: RoomView | null = null): RoomView {
  const state: RoomState = {
    room_id: `replay:${replay.recording_id}`,
    name: `Replay of ${replay.display_name}`,
    capacity: Math.max(1, replay.members.length),
    members: replay.members.map((m) => ({
      slot: m.slot, user_id: m.user_id, display_name: m.display_name, kind: "live",
      attention: "idle", connected: true,
    })),
    spectators: 0,
    timer: { phase: "idle", cycle: 0, cycles: 0, phase_started_ms: null, phase_ends_ms: null,
      paused_at_ms: null, durations: null },
    boss: null,
    server_ms: 0,
  };
  return { ...fromRoomState(state, previous, null), olderBefore: null };
}

/** `boss`: the fight's state, or null when it ended without a kill. */
export function bossChanged(view: RoomView, boss: BossState | null): RoomView {
  return { ...view, boss };
}

/** `chat_message` (or the ack of one's own `chat_send`): add it once. */
export function chatReceived(view: RoomView, message: ChatMessage): RoomView {
  if (view.messages.some((m) => m.id === message.id)) return view;
  return { ...view, ...mergeMessages(view, [message]) };
}

/** An older page of chat (`GET /api/rooms/{id}/messages`, newest first): prepend it and move
 * the cursor to `next_before` (null: no more). Messages beyond MAX_MESSAGES are not dropped
 * here: paging back is the user asking for them. */
export function olderMessages(view: RoomView, page: MessagesPage): RoomView {
  const byId = new Map<string, ChatMessage>();
  for (const m of page.messages) byId.set(m.id, m);
  for (const m of view.messages) byId.set(m.id, m);
  const messages = [...byId.values()].sort((a, b) => a.sent_ms - b.sent_ms);
  return { ...view, messages, olderBefore: page.next_before };
}

/** `ghost_race`: the race list replaces the previous one. */
export function ghostRaceChanged(view: RoomView, ghosts: readonly GhostRaceEntry[]): RoomView {
  return { ...view, ghostRace: ghosts };
}

/** The view after a successful `room_join`. */
export function fromJoinAck(ack: RoomJoinAck, previous: RoomView | null = null): RoomView {
  return fromRoomState(ack.room, previous, ack.slot);
}

/** `member_joined`: add (or replace) the slot, idle and connected until told otherwise. */
export function memberJoined(view: RoomView, e: MemberChange): RoomView {
  const members = new Map(view.members);
  members.set(e.slot, memberView({ ...e, attention: "idle", connected: true }));
  const frames = new Map(view.frames);
  frames.delete(e.slot);
  return { ...view, members, frames };
}

/** `member_left`: drop the slot and its last frame. */
export function memberLeft(view: RoomView, e: MemberChange): RoomView {
  if (!view.members.has(e.slot)) return view;
  const members = new Map(view.members);
  members.delete(e.slot);
  const frames = new Map(view.frames);
  frames.delete(e.slot);
  return { ...view, members, frames };
}

/** `spectators`: someone started or stopped watching the room. */
export function spectatorsChanged(view: RoomView, e: { count: number }): RoomView {
  return e.count === view.spectators ? view : { ...view, spectators: e.count };
}

/** `member_state`: a member's attention (and connection) changed. Unknown slots are
 * ignored (a state can overtake its `member_joined` across nodes; the next RoomState
 * repairs it). */
export function memberState(view: RoomView, e: MemberStateEvent): RoomView {
  const old = view.members.get(e.slot);
  if (old === undefined) return view;
  const members = new Map(view.members);
  members.set(e.slot, {
    ...old, attention: e.attention, sinceMs: e.since_ms, connected: e.connected ?? old.connected,
  });
  return { ...view, members };
}

/** `timer`: the room's timer state. */
export function timerChanged(view: RoomView, timer: TimerState): RoomView {
  return { ...view, timer };
}

/** `frames`: keep each slot's newest frame. A batch or frame that does not decode is
 * counted in `badFrames` and skipped; frames of unknown slots are kept (a ghost or member
 * whose `member_joined` has not arrived yet). */
export function framesReceived(view: RoomView, data: Bytes): RoomView {
  return framesDecoded(view, decodeFrames(data));
}

/** A `frames` batch decoded once: its server send time, each slot's frame, and how many
 * frames (or the whole batch: 1) did not decode. */
export interface DecodedFrames {
  readonly serverMs: number;
  readonly entries: readonly { readonly slot: number; readonly frame: Frame }[];
  readonly bad: number;
}

/** Decode a `frames` batch; never throws FrameError (bad parts are counted in `bad`). */
export function decodeFrames(data: Bytes): DecodedFrames {
  let batch;
  try {
    batch = decodeBatch(data);
  } catch (err) {
    if (err instanceof FrameError) return { serverMs: 0, entries: [], bad: 1 };
    throw err;
  }
  const entries: { slot: number; frame: Frame }[] = [];
  let bad = 0;
  for (const { slot, frame } of batch.entries) {
    try {
      entries.push({ slot, frame: decodeFrame(frame) });
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      bad += 1;
    }
  }
  return { serverMs: batch.serverMs, entries, bad };
}

/** Keep each slot's newest frame of a decoded batch and count its bad parts. */
export function framesDecoded(view: RoomView, decoded: DecodedFrames): RoomView {
  const frames = new Map(view.frames);
  for (const { slot, frame } of decoded.entries) {
    frames.set(slot, { frame, serverMs: decoded.serverMs });
  }
  return { ...view, frames, badFrames: view.badFrames + decoded.bad };
}

/** Whether two views differ in more than their frames (what a page shows besides the
 * avatars): the reducers keep unchanged parts by reference, so this is a few identity
 * checks, cheap at the 30 Hz of `frames`. */
export function changedBesidesFrames(a: RoomView | null, b: RoomView | null): boolean {
  if (a === null || b === null) return a !== b;
  return a.roomId !== b.roomId || a.members !== b.members || a.timer !== b.timer
    || a.boss !== b.boss || a.messages !== b.messages || a.olderBefore !== b.olderBefore
    || a.ghostRace !== b.ghostRace || a.spectators !== b.spectators || a.name !== b.name
    || a.mySlot !== b.mySlot || a.ownerId !== b.ownerId;
}

/** Members in slot order. */
export function membersBySlot(view: RoomView): MemberView[] {
  return [...view.members.values()].sort((a, b) => a.slot - b.slot);
}

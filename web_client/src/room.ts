/**
 * The client's picture of the room it is in, updated by server events. Pure: each update
 * takes a view and an event and returns the next view (the views are never mutated), so the
 * page, and later the avatar scene and HUD, render from one value.
 */

import { decodeBatch, decodeFrame, FrameError, type Bytes, type Frame } from "./frame";
import type {
  Attention, MemberChange, MemberInfo, MemberStateEvent, RoomJoinAck, RoomState, TimerState,
} from "./protocol";

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
}

function memberView(m: MemberInfo, sinceMs: number | null = null): MemberView {
  return { ...m, sinceMs };
}

/** A view from a full RoomState (the `room_join` ack, or a `room_state` event). Frames of
 * members still present are kept; `mySlot` is kept unless `ack` gives it. */
export function fromRoomState(
  state: RoomState, previous: RoomView | null = null, mySlot?: number | null,
): RoomView {
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
  };
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
  let batch;
  try {
    batch = decodeBatch(data);
  } catch (err) {
    if (err instanceof FrameError) return { ...view, badFrames: view.badFrames + 1 };
    throw err;
  }
  const frames = new Map(view.frames);
  let bad = 0;
  for (const { slot, frame } of batch.entries) {
    try {
      frames.set(slot, { frame: decodeFrame(frame), serverMs: batch.serverMs });
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      bad += 1;
    }
  }
  return { ...view, frames, badFrames: view.badFrames + bad };
}

/** Members in slot order. */
export function membersBySlot(view: RoomView): MemberView[] {
  return [...view.members.values()].sort((a, b) => a.slot - b.slot);
}

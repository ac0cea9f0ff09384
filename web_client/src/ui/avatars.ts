/**
 * Thin adapter to the avatar scene and the recording face source, which live in
 * src/avatar/stage.ts and src/sources/ (owned by the avatar work, not this module). They
 * are found with Vite's `import.meta.glob`, so this page builds with or without them and
 * picks them up as soon as they exist; without them the avatar container stays a plain
 * element and `loadStage` gives null. The interfaces below are the agreed contract.
 */

import type { Frame } from "../frame";
import type { Attention, MemberKind } from "../protocol";
import type { RoomView } from "../room";

/** One avatar to show (`AvatarStage.setMembers`). */
export interface AvatarMember {
  slot: number;
  kind: MemberKind;
  displayName: string;
  attention: string;
}

/** The 3D avatar scene of src/avatar/stage.ts. */
export interface AvatarStageLike {
  setMembers(members: readonly AvatarMember[]): void;
  pushFrame(slot: number, frame: Frame, serverMs: number): void;
  start(): void;
  stop(): void;
  morphWeights(slot: number): Record<string, number> | null;
  dispose(): void;
}

type StageCtor = new (container: HTMLElement, options?: { glbUrl?: string | null }) => AvatarStageLike;

/** A recorded face played as if it came from the camera (src/sources/). */
export interface RecordingSourceLike {
  start(onFrame: (bytes: Uint8Array) => void): void;
  stop(): void;
  setFaceHidden(hidden: boolean): void;
}

interface RecordingSourceClass {
  load(url: string): Promise<RecordingSourceLike>;
}

const stageModules = import.meta.glob<{ AvatarStage?: StageCtor }>("../avatar/stage.ts");
const sourceModules = import.meta.glob<{ RecordingSource?: RecordingSourceClass }>(
  "../sources/*.ts");

/** Whether this build has the avatar scene. */
export function hasStage(): boolean {
  return Object.keys(stageModules).length > 0;
}

/** A started AvatarStage in `container`, or null when the build has none or it fails to
 * start (no WebGL, for one); `onError` hears why. */
export async function loadStage(
  container: HTMLElement, onError: (err: unknown) => void = () => {},
): Promise<AvatarStageLike | null> {
  const load = Object.values(stageModules)[0];
  if (load === undefined) return null;
  try {
    const mod = await load();
    if (mod.AvatarStage === undefined) return null;
    const stage = new mod.AvatarStage(container);
    stage.start();
    return stage;
  } catch (err) {
    onError(err);
    return null;
  }
}

/** The RecordingSource class, or null when the build has none. */
export async function loadRecordingSource(): Promise<RecordingSourceClass | null> {
  for (const load of Object.values(sourceModules)) {
    const mod = await load();
    if (mod.RecordingSource !== undefined) return mod.RecordingSource;
  }
  return null;
}

/** The server names a ghost "<name> (ghost)"; the stage marks ghosts itself. */
const GHOST_SUFFIX = " (ghost)";

/** The stage's members from a room view, in slot order (ghosts under their user's name:
 * the stage labels them as ghosts). */
export function avatarMembers(view: RoomView): AvatarMember[] {
  return [...view.members.values()]
    .sort((a, b) => a.slot - b.slot)
    .map((m) => ({
      slot: m.slot, kind: m.kind,
      displayName: m.kind === "ghost" && m.display_name.endsWith(GHOST_SUFFIX)
        ? m.display_name.slice(0, -GHOST_SUFFIX.length) : m.display_name,
      attention: m.attention as Attention,
    }));
}

/** A key that changes exactly when `avatarMembers` would: call setMembers only then. */
export function membersKey(view: RoomView): string {
  return avatarMembers(view).map((m) => `${m.slot}:${m.kind}:${m.attention}:${m.displayName}`)
    .join("|");
}

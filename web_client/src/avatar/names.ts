/**
 * Blend-shape names as morph targets spell them. glTF avatars name their morph targets by
 * ARKit's blend shapes, in ARKit's camelCase (`eyeBlinkLeft`, as MediaPipe does), Apple's
 * raw form (`eyeBlink_L`), Live Link's PascalCase (`EyeBlinkLeft`), or with a prefix
 * (`blendShape1.eyeBlinkLeft`, `ARKit_eyeBlink_L`); matching is case-insensitive.
 * /work/shared/data/face/blendshape_name_map.json lists the spellings. Pure (no three).
 */

import { BLENDSHAPE_NAMES } from "../blendshapes";

/** ARKit's 52 blend shapes: the 51 on the wire plus `tongueOut` (never on the wire). */
export const ARKIT_NAMES: readonly string[] = Object.freeze([...BLENDSHAPE_NAMES, "tongueOut"]);

/** Lower-case ARKit name without separators -> the ARKit name. */
const BY_KEY: ReadonlyMap<string, string> = new Map(
  ARKIT_NAMES.map((n) => [n.toLowerCase(), n] as const));

function key(raw: string): string | undefined {
  // a side suffix `_L` / `.R` / `-l` / ` R` / `Left`: spell it out, then drop separators
  const sided = raw.trim().replace(/[_.\-\s]([lr])$/i,
    (_m, side: string) => (side.toLowerCase() === "l" ? "Left" : "Right"));
  return BY_KEY.get(sided.replace(/[_.\-\s]/g, "").toLowerCase());
}

/** The ARKit name (`eyeBlinkLeft`) a morph target's name stands for, or null.
 *
 * Accepts any case, `_L`/`_R` (or `.L`, `-R`, ` L`) for `Left`/`Right`, separators inside
 * (`mouth_smile_left`) and a namespace prefix before the last `.`, `:` or `|`, or a
 * leading `arkit`/`blendshape` word (`blendShape1.eyeBlink_L`, `ARKit_jawOpen`).
 * `_neutral` and unknown names give null. */
export function normalizeShapeName(name: string): string | null {
  const direct = key(name);
  if (direct !== undefined) return direct;
  const tail = name.split(/[.:|](?![lr]$)/i).pop() ?? "";
  const afterPrefix = key(tail);
  if (afterPrefix !== undefined) return afterPrefix;
  const bare = tail.replace(/^(arkit|blend_?shapes?\d*)[_.\-\s]?/i, "");
  return key(bare) ?? null;
}

/** Morph-target name -> index (three's `morphTargetDictionary`) to ARKit name -> indices.
 * Several targets may stand for one shape (all are driven); unknown names are left out. */
export function bindMorphTargets(
  dictionary: Readonly<Record<string, number>>,
): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [name, index] of Object.entries(dictionary)) {
    const arkit = normalizeShapeName(name);
    if (arkit === null) continue;
    const list = out.get(arkit);
    if (list === undefined) out.set(arkit, [index]); else list.push(index);
  }
  return out;
}

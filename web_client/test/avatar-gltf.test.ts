/**
 * A user's glTF head (no WebGL needed): three's GLTFLoader reads morph target names from
 * `mesh.extras.targetNames`; Avatar3D binds them by ARKit name in any spelling and drives
 * the influences from the driver's weights, and the pose lands on the model.
 */

import { describe, expect, it } from "vitest";
import {
  Bone, BoxGeometry, CylinderGeometry, Euler, Group, Mesh, MeshBasicMaterial, Quaternion,
  SphereGeometry, type Object3D,
} from "three";
import { GLTFLoader } from "three/examples/jsm/loaders/GLTFLoader.js";
import { Avatar3D } from "../src/avatar/avatar3d";
import { AvatarDriver } from "../src/avatar/driver";
import { BLENDSHAPE_NAMES } from "../src/blendshapes";
import { decodeFrame, encodeFrame } from "../src/frame";

const TARGETS = ["eyeBlink_L", "EyeBlinkRight", "JAWOPEN", "blendShape1.mouthSmile_R", "Basis"];

/** A one-triangle GLB whose mesh has one morph target per name. */
function glb(): ArrayBuffer {
  const floats = new Float32Array(9 * (1 + TARGETS.length));
  floats.set([0, 0, 0, 1, 0, 0, 0, 1, 0]);
  TARGETS.forEach((_, t) => floats.set([0, -0.1 * (t + 1), 0, 0, 0, 0, 0, 0, 0], 9 * (t + 1)));
  const bytes = new Uint8Array(floats.buffer);
  const accessor = (i: number) => ({
    bufferView: 0, byteOffset: 36 * i, componentType: 5126, count: 3, type: "VEC3",
    ...(i === 0 ? { min: [0, 0, 0], max: [1, 1, 0] } : {}),
  });
  const json = JSON.stringify({
    asset: { version: "2.0" },
    buffers: [{ byteLength: bytes.length }],
    bufferViews: [{ buffer: 0, byteOffset: 0, byteLength: bytes.length }],
    accessors: [0, ...TARGETS.map((_, t) => t + 1)].map(accessor),
    meshes: [{
      primitives: [{ attributes: { POSITION: 0 },
        targets: TARGETS.map((_, t) => ({ POSITION: t + 1 })) }],
      weights: TARGETS.map(() => 0),
      extras: { targetNames: TARGETS },
    }],
    nodes: [{ mesh: 0, name: "Face" }],
    scenes: [{ nodes: [0] }],
    scene: 0,
  });
  const jsonBytes = new TextEncoder().encode(json);
  const jsonLen = Math.ceil(jsonBytes.length / 4) * 4;
  const binLen = Math.ceil(bytes.length / 4) * 4;
  const out = new Uint8Array(12 + 8 + jsonLen + 8 + binLen);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0x46546c67, true); // "glTF"
  view.setUint32(4, 2, true);
  view.setUint32(8, out.length, true);
  view.setUint32(12, jsonLen, true);
  view.setUint32(16, 0x4e4f534a, true); // "JSON"
  out.fill(0x20, 20, 20 + jsonLen);
  out.set(jsonBytes, 20);
  view.setUint32(20 + jsonLen, binLen, true);
  view.setUint32(24 + jsonLen, 0x004e4942, true); // "BIN"
  out.set(bytes, 28 + jsonLen);
  return out.buffer;
}

async function loadModel(): Promise<Object3D> {
  const gltf = await new GLTFLoader().parseAsync(glb(), "");
  return gltf.scene;
}

describe("glTF heads", () => {
  it("binds ARKit-named targets in any spelling and drives them from frames", async () => {
    const model = await loadModel();
    const avatar = new Avatar3D({ neck: new CylinderGeometry(), torso: new SphereGeometry() });
    expect(avatar.useModel(model)).toBe(4); // Basis is not a blend shape
    expect([...avatar.boundShapes()].sort())
      .toEqual(["eyeBlinkLeft", "eyeBlinkRight", "jawOpen", "mouthSmileRight"]);
    const scores = BLENDSHAPE_NAMES.map((n) =>
      ({ eyeBlinkLeft: 1, jawOpen: 0.5, mouthSmileRight: 0.2 } as Record<string, number>)[n] ?? 0);
    const driver = new AvatarDriver({ slot: 0, kind: "live", displayName: "x", attention: "focused" });
    driver.push(decodeFrame(encodeFrame({ seq: 0, captureMs: 0, scores, yawDeg: 30 })), 0);
    avatar.apply(driver.update(0), 0);
    let mesh: Mesh | null = null;
    model.traverse((o) => { if ((o as Mesh).isMesh) mesh = o as Mesh; });
    const influences = (mesh as unknown as Mesh).morphTargetInfluences!;
    expect(influences[0]).toBe(1);
    expect(influences[1]).toBe(0);
    expect(influences[2]).toBeCloseTo(128 / 255, 6);
    expect(influences[3]).toBeCloseTo(51 / 255, 6);
    expect(influences[4]).toBe(0);
    // the pose: no head bone, so the model's parent turns (yaw 30 degrees about y)
    expect(model.parent!.rotation.y).toBeCloseTo(Math.PI / 6, 6);
    avatar.setGhost(true);
    const material = (mesh as unknown as Mesh).material as { transparent: boolean; opacity: number };
    expect(material.transparent).toBe(true);
    expect(material.opacity).toBeCloseTo(0.35, 6);
    avatar.dispose();
  });

  it("poses a model's head bone on top of its rest rotation", () => {
    const model = new Group();
    const bone = new Bone();
    bone.name = "Head";
    bone.rotation.set(0.3, 0, 0);
    const rest = bone.quaternion.clone();
    model.add(bone);
    const mesh = new Mesh(new BoxGeometry(), new MeshBasicMaterial());
    mesh.morphTargetDictionary = { jawOpen: 0 };
    mesh.morphTargetInfluences = [0];
    bone.add(mesh);
    const avatar = new Avatar3D({ neck: new CylinderGeometry(), torso: new SphereGeometry() });
    expect(avatar.useModel(model)).toBe(1);
    const driver = new AvatarDriver({ slot: 0, kind: "live", displayName: "x", attention: "focused" });
    const scores = BLENDSHAPE_NAMES.map((n) => (n === "jawOpen" ? 1 : 0));
    driver.push(decodeFrame(encodeFrame({ seq: 0, captureMs: 0, scores, yawDeg: 40 })), 0);
    avatar.apply(driver.update(0), 0);
    const expected = rest.clone().multiply(
      new Quaternion().setFromEuler(new Euler(0, (40 * Math.PI) / 180, 0, "YXZ")));
    expect(bone.quaternion.angleTo(expected)).toBeLessThan(1e-6);
    expect(model.parent!.quaternion.angleTo(new Quaternion())).toBeLessThan(1e-9);
    expect(mesh.morphTargetInfluences[0]).toBe(1);
    avatar.dispose();
  });
});

/**
 * One avatar in the three.js scene: a head (the built-in one or a clone of a glTF model)
 * posed and morphed from an AvatarOutput (driver.ts), a body, a name label and a floating
 * "Zzz" while asleep. Ghosts are drawn translucent.
 *
 * Scene graph: root (grid cell) -> mirror (scale.x = -1: a webcam-style mirror image) ->
 * pose (rotation from yaw/pitch/roll, order YXZ = Ry * Rx * Rz, the frame's convention;
 * the avatar faces +z like MediaPipe's canonical face, so the unmirrored scene shows what
 * the camera saw) -> head. Labels hang off the root, unmirrored.
 */

import {
  CanvasTexture, CylinderGeometry, DoubleSide, Euler, Group, Mesh, MeshStandardMaterial,
  Quaternion, SphereGeometry, Sprite, SpriteMaterial, type BufferGeometry, type Material,
  type Object3D,
} from "three";
import { GHOST_OPACITY, type AvatarOutput } from "./driver";
import { bindMorphTargets } from "./names";

const DEG = Math.PI / 180;

/** A mesh whose morph targets are driven, with ARKit name -> target indices. */
interface BoundMesh {
  readonly mesh: Mesh;
  readonly binding: Map<string, number[]>;
}

/** A sprite showing `text` (canvas 2D; null where there is no document). */
export function textSprite(text: string, color = "#ffffff", background = "rgba(20,24,32,0.72)",
                           height = 0.32): Sprite | null {
  if (typeof document === "undefined") return null;
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d");
  if (ctx === null) return null;
  const font = "600 44px system-ui, sans-serif";
  ctx.font = font;
  const width = Math.ceil(ctx.measureText(text).width) + 40;
  canvas.width = width;
  canvas.height = 64;
  ctx.font = font;
  if (background !== "") {
    ctx.fillStyle = background;
    ctx.beginPath();
    ctx.roundRect(0, 0, width, 64, 18);
    ctx.fill();
  }
  ctx.fillStyle = color;
  ctx.textBaseline = "middle";
  ctx.fillText(text, 20, 34);
  const texture = new CanvasTexture(canvas);
  const sprite = new Sprite(new SpriteMaterial({ map: texture, transparent: true,
    depthWrite: false }));
  const maxWidth = 2.8; // a grid cell is 3 wide
  const k = Math.min(1, maxWidth / ((height * width) / 64));
  sprite.scale.set((k * height * width) / 64, k * height, 1);
  sprite.userData.text = text;
  return sprite;
}

function disposeSprite(sprite: Sprite | null): void {
  if (sprite === null) return;
  sprite.material.map?.dispose();
  sprite.material.dispose();
  sprite.removeFromParent();
}

function materialsOf(object: Object3D): Material[] {
  const out: Material[] = [];
  object.traverse((o) => {
    const m = (o as Mesh).material;
    if (m === undefined) return;
    for (const mat of Array.isArray(m) ? m : [m]) if (!out.includes(mat)) out.push(mat);
  });
  return out;
}

export class Avatar3D {
  readonly root = new Group();
  private readonly mirror = new Group();
  private readonly pose = new Group();
  private head: Object3D | null = null;
  private poseTarget: Object3D; // the pose group, or a glTF head bone
  private readonly restPose = new Quaternion(); // the pose target's own rotation at rest
  private readonly poseEuler = new Euler(0, 0, 0, "YXZ");
  private readonly poseQuat = new Quaternion();
  private bound: BoundMesh[] = [];
  private label: Sprite | null = null;
  private zzz: Sprite | null = null;
  private ghost = false;
  private readonly body: Mesh[];
  private ownedMaterials: Material[] = [];

  /** `shared`: the stage's body geometries (not disposed here). */
  constructor(shared: { neck: CylinderGeometry; torso: SphereGeometry }) {
    this.root.add(this.mirror);
    this.mirror.scale.x = -1;
    this.mirror.add(this.pose);
    this.poseTarget = this.pose;
    const shirt = new MeshStandardMaterial({ color: 0x5b7bd5, roughness: 0.8 });
    const neck = new Mesh(shared.neck, new MeshStandardMaterial({ color: 0xe9bfa6,
      roughness: 0.7 }));
    neck.position.y = -1.15;
    const torso = new Mesh(shared.torso, shirt);
    torso.position.y = -1.75;
    torso.scale.set(1.35, 0.55, 0.7);
    this.body = [neck, torso];
    this.mirror.add(neck, torso);
    this.ownedMaterials.push(neck.material as Material, shirt);
  }

  /** Show the built-in head (a mesh on the shared geometry, with its own material). */
  useBuiltInHead(geometry: BufferGeometry): void {
    const material = new MeshStandardMaterial({ vertexColors: true, roughness: 0.65,
      metalness: 0, side: DoubleSide });
    const mesh = new Mesh(geometry, material);
    mesh.updateMorphTargets();
    this.setHead(mesh);
  }

  /** Show a glTF head: `model` is this avatar's own clone (its materials are cloned here).
   * The pose goes to a bone named like "head" when the model has one, else to the whole
   * model. Returns how many ARKit targets were bound. */
  useModel(model: Object3D): number {
    model.traverse((o) => {
      const mesh = o as Mesh;
      if (mesh.material === undefined) return;
      mesh.material = Array.isArray(mesh.material)
        ? mesh.material.map((m) => m.clone()) : mesh.material.clone();
    });
    this.setHead(model);
    let bone: Object3D | null = null;
    model.traverse((o) => {
      if (bone === null && (o as { isBone?: boolean }).isBone && /^(mixamorig:)?head$/i.test(o.name)) {
        bone = o;
      }
    });
    if (bone !== null) {
      this.poseTarget = bone;
      this.restPose.copy((bone as Object3D).quaternion);
    }
    return this.bound.reduce((n, b) => n + b.binding.size, 0);
  }

  /** Replace the head; the old head's materials (its own) are disposed, geometries are
   * the stage's. */
  private setHead(head: Object3D): void {
    if (this.head !== null) {
      this.head.removeFromParent();
      for (const m of materialsOf(this.head)) m.dispose();
    }
    this.poseTarget.quaternion.copy(this.restPose);
    this.poseTarget = this.pose;
    this.restPose.identity();
    this.head = head;
    this.pose.add(head);
    this.bound = [];
    head.traverse((o) => {
      const mesh = o as Mesh;
      if (mesh.isMesh && mesh.morphTargetDictionary !== undefined) {
        this.bound.push({ mesh, binding: bindMorphTargets(mesh.morphTargetDictionary) });
      }
    });
    this.setGhost(this.ghost, true);
  }

  /** ARKit names the current head can show. */
  boundShapes(): Set<string> {
    return new Set(this.bound.flatMap((b) => [...b.binding.keys()]));
  }

  /** The label under the avatar. */
  setLabel(text: string): void {
    if (this.label?.userData.text === text) return;
    disposeSprite(this.label);
    this.label = textSprite(text);
    if (this.label !== null) {
      this.label.position.set(0, -2.35, 0.8);
      this.root.add(this.label);
    }
  }

  /** Translucent (ghost) or solid. */
  setGhost(ghost: boolean, force = false): void {
    if (ghost === this.ghost && !force) return;
    this.ghost = ghost;
    const meshes: Object3D[] = [...this.body];
    if (this.head !== null) meshes.push(this.head);
    for (const object of meshes) {
      for (const m of materialsOf(object)) {
        m.transparent = ghost;
        m.opacity = ghost ? GHOST_OPACITY : 1;
        m.depthWrite = !ghost;
        m.needsUpdate = true;
      }
    }
  }

  /** Put one drawn frame on the meshes; `tSec` animates the Zzz. */
  apply(out: AvatarOutput, tSec: number): void {
    this.setGhost(out.ghost);
    for (const { mesh, binding } of this.bound) {
      const influences = mesh.morphTargetInfluences;
      if (influences === undefined) continue;
      for (const [name, indices] of binding) {
        const w = out.weights[name] ?? 0;
        for (const i of indices) influences[i] = w;
      }
    }
    // rest rotation, then the head pose (a bone keeps its bind orientation)
    this.poseEuler.set(out.pitchDeg * DEG, out.yawDeg * DEG, out.rollDeg * DEG, "YXZ");
    this.poseTarget.quaternion.copy(this.restPose)
      .multiply(this.poseQuat.setFromEuler(this.poseEuler));
    if (out.asleep > 0.5) {
      if (this.zzz === null) {
        this.zzz = textSprite("Zzz", "#dfe8ff", "", 0.5);
        if (this.zzz !== null) this.root.add(this.zzz);
      }
      if (this.zzz !== null) {
        const phase = (tSec % 2.4) / 2.4;
        this.zzz.position.set(0.85 + 0.25 * phase, 1.0 + 0.6 * phase, 0.6);
        this.zzz.material.opacity = Math.min(1, (out.asleep - 0.5) * 2) * (1 - phase * 0.7);
      }
    } else if (this.zzz !== null) {
      disposeSprite(this.zzz);
      this.zzz = null;
    }
  }

  /** Whether the Zzz sprite is shown (for tests through the stage). */
  get sleeping(): boolean {
    return this.zzz !== null;
  }

  dispose(): void {
    disposeSprite(this.label);
    disposeSprite(this.zzz);
    if (this.head !== null) for (const m of materialsOf(this.head)) m.dispose();
    for (const m of this.ownedMaterials) m.dispose();
    this.root.removeFromParent();
  }
}

/**
 * The avatar stage: one WebGL canvas showing the room's members as 3D avatars on a grid
 * (by slot), each driven by its frames through snapshot interpolation and by its attention
 * state (driver.ts), with a name label. The public entry of src/avatar/.
 *
 *   const stage = new AvatarStage(container);            // or { glbUrl: "/avatar.glb" }
 *   stage.setMembers([{ slot, kind: "live", displayName, attention }]);
 *   stage.pushFrame(slot, decodeFrame(bytes), batch.serverMs);
 *   stage.start();
 *
 * Heads: the built-in stylised head (head.ts), or, with `glbUrl`, a glTF/GLB whose morph
 * targets use ARKit names in any spelling (names.ts); if that model fails to load the
 * built-in head stays and `modelError` says why. Without WebGL the stage shows a message in
 * the container instead of a canvas (`error` holds it) and keeps computing weights, so
 * `morphWeights` still answers.
 */

import {
  Color, CylinderGeometry, DirectionalLight, HemisphereLight, PerspectiveCamera, Scene,
  SphereGeometry, Vector3, WebGLRenderer, type BufferGeometry, type Object3D,
} from "three";
import type { Frame } from "../frame";
import { Avatar3D } from "./avatar3d";
import { AvatarDriver, gridLayout, labelText, type AvatarMember } from "./driver";
import { buildHeadGeometry } from "./head";

export type { AvatarMember } from "./driver";

/** Grid cell size in scene units (an avatar with its label is about 2.2 x 4.6). */
const CELL_W = 3.0;
const CELL_H = 5.0;
const FOV_DEG = 30;
const MAX_SLOTS = 256;

export interface AvatarStageOptions {
  /** A glTF/GLB head with ARKit-named morph targets; null or absent: the built-in head. */
  glbUrl?: string | null;
}

interface Shown {
  driver: AvatarDriver;
  avatar: Avatar3D | null; // null without WebGL
}

export class AvatarStage {
  /** Why there is no 3D view (no WebGL), or null. */
  readonly error: string | null = null;
  /** Why the glTF model is not used (load failure, no ARKit targets), or null. */
  modelError: string | null = null;

  private readonly renderer: WebGLRenderer | null = null;
  private readonly scene = new Scene();
  private readonly camera = new PerspectiveCamera(FOV_DEG, 1, 0.1, 200);
  private readonly headGeometry: BufferGeometry | null = null;
  private readonly bodyGeometry = {
    neck: new CylinderGeometry(0.26, 0.3, 0.5, 20),
    torso: new SphereGeometry(1, 32, 16),
  };
  private model: Object3D | null = null;
  private modelClone: ((o: Object3D) => Object3D) | null = null;
  private readonly shown = new Map<number, Shown>();
  private readonly pending = new Map<number, AvatarDriver>();
  private members: AvatarMember[] = [];
  private frameHandle: number | null = null;
  private readonly resizeObserver: ResizeObserver | null = null;
  private readonly message: HTMLElement | null = null;
  private disposed = false;
  /** Whether the container had a height of its own before the canvas went in (then the
   * canvas fills it; else the canvas is 0.6 of the width tall). */
  private readonly fixedHeight: boolean;

  constructor(private readonly container: HTMLElement, options: AvatarStageOptions = {}) {
    this.fixedHeight = container.clientHeight > 0;
    let renderer: WebGLRenderer | null = null;
    try {
      renderer = new WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
    } catch (err) {
      this.error = "3D avatars are unavailable: this browser could not create a WebGL "
        + `context (${err instanceof Error ? err.message : String(err)}).`;
    }
    if (renderer === null) {
      const note = document.createElement("p");
      note.className = "avatar-stage-error";
      note.setAttribute("role", "status");
      note.textContent = this.error;
      container.append(note);
      this.message = note;
      return;
    }
    this.renderer = renderer;
    renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
    renderer.domElement.className = "avatar-stage";
    renderer.domElement.style.display = "block";
    renderer.domElement.style.width = "100%";
    renderer.domElement.addEventListener("webglcontextlost", (event) => {
      event.preventDefault();
      this.stop();
      (this as { error: string | null }).error = "3D avatars stopped: the WebGL context was lost.";
    });
    container.append(renderer.domElement);
    this.scene.background = new Color(0x1d2330);
    this.scene.add(new HemisphereLight(0xffffff, 0x3a4250, 1.7));
    const key = new DirectionalLight(0xffffff, 1.6);
    key.position.set(2, 3, 6);
    this.scene.add(key);
    this.headGeometry = buildHeadGeometry();
    if (typeof ResizeObserver !== "undefined") {
      this.resizeObserver = new ResizeObserver(() => this.resize());
      this.resizeObserver.observe(container);
    }
    this.resize();
    if (options.glbUrl) void this.loadModel(options.glbUrl);
  }

  /** Set who is shown (grid layout by slot); call whenever members or attention change. */
  setMembers(members: readonly AvatarMember[]): void {
    this.members = members.filter((m) => Number.isInteger(m.slot) && m.slot >= 0
      && m.slot < MAX_SLOTS).map((m) => ({ ...m }));
    const wanted = new Map(this.members.map((m) => [m.slot, m] as const));
    for (const [slot, shown] of this.shown) {
      if (!wanted.has(slot)) {
        shown.avatar?.dispose();
        this.shown.delete(slot);
      }
    }
    for (const member of this.members) {
      let shown = this.shown.get(member.slot);
      if (shown === undefined) {
        const driver = this.pending.get(member.slot) ?? new AvatarDriver(member);
        this.pending.delete(member.slot);
        shown = { driver, avatar: this.makeAvatar() };
        this.shown.set(member.slot, shown);
      }
      shown.driver.member = member;
      shown.avatar?.setLabel(labelText(member));
    }
    this.layout();
  }

  /** One received frame of a slot; serverMs = the batch's server time (epoch ms). Timing
   * uses the frame's capture time placed on the local clock (interp.ts), which is smoother
   * than the batch time; `serverMs` is accepted for callers that have it. */
  pushFrame(slot: number, frame: Frame, serverMs: number): void {
    void serverMs;
    if (this.disposed || !Number.isInteger(slot) || slot < 0 || slot >= MAX_SLOTS) return;
    const now = performance.now();
    const shown = this.shown.get(slot);
    if (shown !== undefined) {
      shown.driver.push(frame, now);
      return;
    }
    let driver = this.pending.get(slot); // a member whose setMembers has not come yet
    if (driver === undefined) {
      driver = new AvatarDriver({ slot, kind: "live", displayName: "", attention: "idle" });
      this.pending.set(slot, driver);
    }
    driver.push(frame, now);
  }

  /** Start/stop the render loop (requestAnimationFrame). */
  start(): void {
    if (this.frameHandle !== null || this.renderer === null || this.disposed) return;
    const loop = (): void => {
      this.frameHandle = requestAnimationFrame(loop);
      this.render(performance.now());
    };
    this.frameHandle = requestAnimationFrame(loop);
  }

  stop(): void {
    if (this.frameHandle !== null) cancelAnimationFrame(this.frameHandle);
    this.frameHandle = null;
  }

  /** Test hook: the current morph weights (ARKit names -> 0..1) applied to a slot's avatar,
   * or null when the slot is not shown. Computed for now, as the next drawn frame uses. */
  morphWeights(slot: number): Record<string, number> | null {
    const shown = this.shown.get(slot);
    if (shown === undefined) return null;
    return { ...shown.driver.update(performance.now()).weights };
  }

  /** Test hook: what a slot's avatar shows now beyond the weights (pose in degrees,
   * asleep 0..1, frozen, ghost), or null. */
  avatarState(slot: number): { yawDeg: number; pitchDeg: number; rollDeg: number;
    asleep: number; frozen: boolean; ghost: boolean; label: string } | null {
    const shown = this.shown.get(slot);
    if (shown === undefined) return null;
    const out = shown.driver.update(performance.now());
    return { yawDeg: out.yawDeg, pitchDeg: out.pitchDeg, rollDeg: out.rollDeg,
      asleep: out.asleep, frozen: out.frozen, ghost: out.ghost,
      label: labelText(shown.driver.member) };
  }

  /** Draw one frame at local time `nowMs` (the loop calls this). */
  render(nowMs: number): void {
    if (this.renderer === null || this.disposed) return;
    for (const { driver, avatar } of this.shown.values()) {
      avatar?.apply(driver.update(nowMs), nowMs / 1000);
    }
    this.renderer.render(this.scene, this.camera);
  }

  dispose(): void {
    if (this.disposed) return;
    this.stop();
    this.disposed = true;
    this.resizeObserver?.disconnect();
    for (const { avatar } of this.shown.values()) avatar?.dispose();
    this.shown.clear();
    this.pending.clear();
    this.headGeometry?.dispose();
    this.bodyGeometry.neck.dispose();
    this.bodyGeometry.torso.dispose();
    this.model?.traverse((o) => (o as { geometry?: BufferGeometry }).geometry?.dispose());
    this.renderer?.dispose();
    this.renderer?.domElement.remove();
    this.message?.remove();
  }

  private makeAvatar(): Avatar3D | null {
    if (this.renderer === null || this.headGeometry === null) return null;
    const avatar = new Avatar3D(this.bodyGeometry);
    if (this.model !== null && this.modelClone !== null) {
      avatar.useModel(this.modelClone(this.model));
    } else {
      avatar.useBuiltInHead(this.headGeometry);
    }
    this.scene.add(avatar.root);
    return avatar;
  }

  private async loadModel(url: string): Promise<void> {
    try {
      const [{ GLTFLoader }, { clone }, { Box3, Group }] = await Promise.all([
        import("three/examples/jsm/loaders/GLTFLoader.js"),
        import("three/examples/jsm/utils/SkeletonUtils.js"),
        import("three"),
      ]);
      const gltf = await new GLTFLoader().loadAsync(url);
      if (this.disposed) return;
      // fit the model to the built-in head's size and place: about 2.1 tall, centred
      const box = new Box3().setFromObject(gltf.scene);
      const size = box.getSize(new Vector3());
      const center = box.getCenter(new Vector3());
      const scale = size.y > 0 ? 2.1 / size.y : 1;
      const fitted = new Group();
      fitted.add(gltf.scene);
      gltf.scene.scale.setScalar(scale);
      gltf.scene.position.copy(center.multiplyScalar(-scale));
      this.model = fitted;
      this.modelClone = (o) => clone(o);
      let bound = 0;
      for (const shown of this.shown.values()) {
        if (shown.avatar !== null) bound = shown.avatar.useModel(clone(fitted));
      }
      if (this.shown.size === 0) {
        const probe = new Avatar3D(this.bodyGeometry);
        bound = probe.useModel(clone(fitted));
        probe.dispose();
      }
      if (bound === 0) this.modelError = `${url} has no morph targets with ARKit names`;
    } catch (err) {
      this.modelError = `could not load ${url}: ${err instanceof Error ? err.message : String(err)}`;
      console.warn("avatar model", this.modelError);
    }
  }

  private layout(): void {
    const { cells, cols, rows } = gridLayout(this.members.map((m) => m.slot));
    for (const cell of cells) {
      const avatar = this.shown.get(cell.slot)?.avatar;
      avatar?.root.position.set((cell.col - (cols - 1) / 2) * CELL_W,
        ((rows - 1) / 2 - cell.row) * CELL_H, 0);
    }
    this.frame(Math.max(cols, 1), Math.max(rows, 1));
  }

  /** Point the camera so a cols x rows grid fills the view. */
  private frame(cols: number, rows: number): void {
    const width = cols * CELL_W;
    const height = rows * CELL_H;
    const vFov = (FOV_DEG * Math.PI) / 180;
    const distV = height / 2 / Math.tan(vFov / 2);
    const hFov = 2 * Math.atan(Math.tan(vFov / 2) * this.camera.aspect);
    const distH = width / 2 / Math.tan(hFov / 2);
    this.camera.position.set(0, -0.35, Math.max(distV, distH) + 1.2);
    this.camera.lookAt(0, -0.35, 0);
  }

  private resize(): void {
    if (this.renderer === null) return;
    const style = getComputedStyle(this.container);
    const px = (v: string): number => Number.parseFloat(v) || 0;
    const width = Math.max(1, (this.container.clientWidth || 640)
      - px(style.paddingLeft) - px(style.paddingRight));
    const height = Math.max(1, this.fixedHeight
      ? this.container.clientHeight - px(style.paddingTop) - px(style.paddingBottom)
      : Math.round(width * 0.6));
    this.renderer.setSize(width, height, false);
    this.renderer.domElement.style.height = `${height}px`;
    this.camera.aspect = width / height;
    this.camera.updateProjectionMatrix();
    this.layout();
  }
}

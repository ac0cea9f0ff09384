/**
 * The room page's parts, each an element plus an `update` from the RoomView: the Pomodoro
 * ring (SVG, from the timer's absolute times on the server clock), the boss card, member
 * attention badges, the ghost race, the chat, and the avatar panel that feeds the
 * AvatarStage. The room, spectator and replay pages compose them.
 */

import { decodeFrame, FrameError } from "../frame";
import type { BossDefeated, RewardEvent } from "../protocol";
import type { RoomView, MemberView } from "../room";
import { membersBySlot } from "../room";
import type { SessionEvent, StudySession } from "../session";
import { formatDuration } from "../view";
import { avatarMembers, loadStage, membersKey, type AvatarStageLike } from "./avatars";
import { describeError, h, setText, svg } from "./dom";
import { attentionLabel, bossHpFraction, bossLines, raceText } from "./format";
import { readTimer, ringStroke, timerText } from "./timer";

const RING_RADIUS = 54;

/** The Pomodoro ring. `update(view, serverNowMs)` redraws it for that instant. */
export class Ring {
  readonly el: HTMLElement;
  private readonly arc: SVGCircleElement;
  private readonly label: HTMLElement;
  private text = "Idle";

  constructor() {
    const { dash } = ringStroke(0, RING_RADIUS);
    this.arc = svg("circle", { cx: 60, cy: 60, r: RING_RADIUS, fill: "none", "stroke-width": 10,
      class: "ring-arc", "stroke-dasharray": dash, "stroke-dashoffset": 0,
      transform: "rotate(-90 60 60)" });
    const ring = svg("svg", { viewBox: "0 0 120 120", width: 180, height: 180, class: "ring",
      role: "img" },
    svg("circle", { cx: 60, cy: 60, r: RING_RADIUS, fill: "none", "stroke-width": 10,
      class: "ring-track" }),
    this.arc);
    this.label = h("div", { class: "ring-label", "data-testid": "timer-text" }, "Idle");
    this.el = h("div", { class: "ring-box" }, ring, this.label);
  }

  get currentText(): string {
    return this.text;
  }

  update(view: RoomView, serverNowMs: number): void {
    const reading = readTimer(view.timer, serverNowMs);
    const { offset } = ringStroke(reading.fraction, RING_RADIUS);
    this.arc.setAttribute("stroke-dashoffset", offset.toFixed(2));
    this.arc.setAttribute("class", `ring-arc phase-${reading.phase}${reading.paused ? " paused" : ""}`);
    this.text = timerText(view.timer, serverNowMs);
    setText(this.label, this.text);
  }
}

/** Boss: name and level, an HP bar, DPS, combo and rage; the last kill. */
export class BossCard {
  readonly el = h("section", { class: "card boss", hidden: true, "data-testid": "boss" });
  private readonly title = h("h3");
  private readonly bar = h("div", { class: "hp-fill" });
  private readonly hp = h("div", { class: "hp-text" });
  private readonly stats = h("div", { class: "muted" });
  private readonly killed = h("div", { class: "killed" });

  constructor() {
    this.el.append(this.title, h("div", { class: "hp-bar" }, this.bar), this.hp, this.stats,
      this.killed);
  }

  update(view: RoomView): void {
    const boss = view.boss;
    this.el.hidden = boss === null && !this.killed.textContent;
    if (boss === null) return;
    const lines = bossLines(boss);
    setText(this.title, lines.title);
    setText(this.hp, lines.hp);
    setText(this.stats, lines.stats);
    this.bar.style.width = `${(bossHpFraction(boss) * 100).toFixed(1)}%`;
    this.bar.classList.toggle("raging", boss.rage);
  }

  defeated(d: BossDefeated, myUserId: string | null): void {
    const mine = myUserId !== null ? d.damage_by_user[myUserId] : undefined;
    setText(this.killed, `${d.name} (level ${d.level}) defeated! +${d.xp_bonus} XP bonus`
      + (mine !== undefined ? `, your damage ${Math.round(mine)} HP` : ""));
    this.el.hidden = false;
  }
}

function badge(m: MemberView, view: RoomView, serverNowMs: number | null): HTMLElement {
  const since = m.sinceMs !== null && serverNowMs !== null
    ? ` ${formatDuration(serverNowMs - m.sinceMs)}` : "";
  return h("li", { class: `member ${m.kind} att-${m.attention}${m.connected ? "" : " offline"}`,
    "data-slot": m.slot, "data-attention": m.attention },
  h("span", { class: "name" }, m.display_name + (m.slot === view.mySlot ? " (you)" : "")),
  h("span", { class: "badge" }, attentionLabel(m.attention) + since),
  m.connected ? null : h("span", { class: "muted" }, " reconnecting"));
}

/** Member attention badges, slot order; with `serverNowMs` each says for how long. */
export class MemberList {
  readonly el = h("ul", { class: "members", "data-testid": "members" });

  update(view: RoomView, serverNowMs: number | null): void {
    this.el.replaceChildren(...membersBySlot(view).map((m) => badge(m, view, serverNowMs)));
  }
}

/** Ahead / behind the ghosts. */
export class RaceList {
  readonly el = h("ul", { class: "race", "data-testid": "race" });

  update(view: RoomView): void {
    this.el.replaceChildren(...view.ghostRace.map((g) => {
      const name = view.members.get(g.slot)?.display_name ?? `ghost #${g.slot}`;
      return h("li", { class: g.ahead_s >= 0 ? "ahead" : "behind" },
        `${name}: ${raceText(g)} (focused: room ${formatDuration(g.room_focused_s * 1000)}, `
        + `ghost ${formatDuration(g.ghost_focused_s * 1000)})`);
    }));
  }
}

/** Chat: the messages, "older" paging back through the HTTP API, and (members) a send box. */
export class ChatBox {
  readonly el: HTMLElement;
  private readonly list = h("ol", { class: "chat-list", "data-testid": "chat" });
  private readonly older: HTMLButtonElement;
  private shown = -1;
  private firstId: string | null = null;

  constructor(private readonly session: StudySession, canSend: boolean,
    status: (text: string, isError?: boolean) => void) {
    this.older = h("button", { type: "button", class: "older", onclick: () => {
      this.older.disabled = true;
      session.loadOlderMessages().catch((err: unknown) => status(describeError(err), true))
        .finally(() => {
          this.older.disabled = false;
        });
    } }, "Older messages");
    const input = h("input", { maxlength: 500, placeholder: "Say something", "aria-label": "chat" });
    const form = h("form", { class: "chat-form", onsubmit: (e: Event) => {
      e.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      session.sendChat(text).then(() => {
        input.value = "";
      }, (err: unknown) => status(`chat: ${describeError(err)}`, true));
    } }, input, h("button", { type: "submit" }, "Send"));
    this.el = h("section", { class: "card chat" }, h("h3", {}, "Chat"), this.older, this.list,
      canSend ? form : null);
  }

  update(view: RoomView): void {
    this.older.hidden = view.olderBefore === null;
    const first = view.messages[0]?.id ?? null;
    if (view.messages.length === this.shown && first === this.firstId) return;
    const stick = this.list.scrollTop + this.list.clientHeight >= this.list.scrollHeight - 8;
    const prepended = first !== this.firstId && this.shown > 0;
    this.shown = view.messages.length;
    this.firstId = first;
    this.list.replaceChildren(...view.messages.map((m) => h("li", {},
      h("span", { class: "muted" }, new Date(m.sent_ms).toLocaleTimeString([], {
        hour: "2-digit", minute: "2-digit" }) + " "),
      h("strong", {}, m.display_name), ": ", m.text)));
    if (stick && !prepended) this.list.scrollTop = this.list.scrollHeight;
  }
}

/** The reward of a finished focus phase, until dismissed. */
export class RewardCard {
  readonly el = h("section", { class: "card reward", hidden: true, "data-testid": "reward" });

  show(r: RewardEvent): void {
    this.el.replaceChildren(h("h3", {}, "Focus phase complete"),
      h("p", {}, `+${r.xp} XP (total ${r.total_xp}) · level ${r.level} · focus score ${r.focus_score}`),
      h("p", {}, r.plant
        ? `${/^[aeiou]/i.test(r.plant) ? "An" : "A"} ${r.plant} plant grew in your garden`
        : "No plant this time"),
      h("p", {}, `Streak ${r.streak.current} day${r.streak.current === 1 ? "" : "s"}`
        + ` (best ${r.streak.best}, ${r.streak.freezes} freeze${r.streak.freezes === 1 ? "" : "s"})`),
      h("button", { type: "button", onclick: () => {
        this.el.hidden = true;
      } }, "OK"));
    this.el.hidden = false;
  }
}

/** The avatar container: the AvatarStage when this build has one (every frame of every
 * batch pushed as it arrives, setMembers when members or attention change). */
export class AvatarPanel {
  readonly el = h("div", { class: "stage", "data-testid": "stage" });
  stage: AvatarStageLike | null = null;
  private key = "";
  private disposed = false;

  async start(onError: (err: unknown) => void): Promise<void> {
    const stage = await loadStage(this.el, onError);
    if (this.disposed) {
      stage?.dispose();
      return;
    }
    this.stage = stage;
    if (stage === null) {
      this.el.classList.add("no-stage");
      this.el.textContent = "3D avatars are not in this build";
    }
  }

  onEvent(event: SessionEvent): void {
    const stage = this.stage;
    if (stage === null) return;
    if (event.kind === "frames") {
      for (const { slot, frame } of event.frames.entries) {
        stage.pushFrame(slot, frame, event.frames.serverMs);
      }
    } else if (event.kind === "room") {
      const key = membersKey(event.view);
      if (key !== this.key) {
        this.key = key;
        stage.setMembers(avatarMembers(event.view));
      }
    }
  }

  /** Show one's own outgoing frame (the server never sends a member its own frames). */
  pushOwn(slot: number | null | undefined, bytes: Uint8Array, serverMs: number): void {
    if (this.stage === null || slot === null || slot === undefined) return;
    try {
      this.stage.pushFrame(slot, decodeFrame(bytes), serverMs);
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
    }
  }

  /** Set the members now (after the stage loaded into an existing room). */
  sync(view: RoomView | null): void {
    if (this.stage === null || view === null) return;
    this.key = membersKey(view);
    this.stage.setMembers(avatarMembers(view));
  }

  dispose(): void {
    this.disposed = true;
    this.stage?.stop();
    this.stage?.dispose();
    this.stage = null;
  }
}

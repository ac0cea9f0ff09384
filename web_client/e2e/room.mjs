/**
 * End to end in a real browser (issue 6, "Tests (real browser)"): playwright-core drives the
 * system Chromium (headless, software GL) against a running Studyverse server that serves
 * the built client. tests/test_browser_e2e.py starts the server and runs this script; it can
 * also run by hand against `./dev serve` (with short attention thresholds):
 *
 *   STUDYVERSE_E2E_URL=http://127.0.0.1:8000 node e2e/room.mjs
 *
 * Environment: STUDYVERSE_E2E_URL (server base URL, required), STUDYVERSE_CHROMIUM (browser
 * binary, default /usr/bin/chromium), STUDYVERSE_E2E_DISTRACTED_AFTER_MS (the server's
 * attention.distracted_after_ms, default 2000), STUDYVERSE_E2E_RECORDING (the recording to
 * play, default llv_dao.gesichter), STUDYVERSE_E2E_OUT (directory for screenshots and a
 * JSON summary; default none).
 *
 * Scenario, every step asserted:
 *  1. Page A signs in as a guest through the lobby form and creates a room; page B signs in
 *     as another guest and joins with the invite code page A shows. A plays a real recording
 *     from GET /recordings/ as its face instead of a camera.
 *  2. On B, A's avatar's morph weights (stage.morphWeights) take several distinct values
 *     over ~2 s, and screenshots of B's avatar canvas differ from the still one taken before
 *     A's frames came, and from each other, on A's side of the grid.
 *  3. A (the owner) starts a timer; the ring text on both pages agrees within 1 s.
 *  4. A's source stops showing a face (the page's "hide the face" box ->
 *     RecordingSource.setFaceHidden(true)); B shows A as distracted, not before the
 *     configured time.
 *
 * Prints one line per step; exits 0 when all passed, 1 with the reason (and the pages'
 * console output) otherwise.
 */

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { decodePng, pixelDiff } from "./png.mjs";

const BASE = (process.env.STUDYVERSE_E2E_URL ?? "").replace(/\/$/, "");
const CHROMIUM = process.env.STUDYVERSE_CHROMIUM || "/usr/bin/chromium";
const DISTRACTED_AFTER_MS = Number(process.env.STUDYVERSE_E2E_DISTRACTED_AFTER_MS ?? 2000);
const RECORDING = process.env.STUDYVERSE_E2E_RECORDING || "llv_dao.gesichter";
const OUT = process.env.STUDYVERSE_E2E_OUT || "";
/** The whole run must finish within this, ms (the pytest side allows a little more). */
const RUN_LIMIT_MS = 90_000;
const STEP_TIMEOUT_MS = 15_000;
/** Morph weight sampling: this many samples this far apart (about 2 s). */
const SAMPLES = 11;
const SAMPLE_EVERY_MS = 200;
const MIN_DISTINCT_VECTORS = 5;
/** A screenshot "differs" when at least this many pixels changed by more than 8/255. */
const MIN_CHANGED_PIXELS = 200;
const CHROMIUM_ARGS = [
  "--no-sandbox", "--disable-dev-shm-usage", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run", "--mute-audio",
  "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist",
];

const started = Date.now();
const summary = { checks: [], timings: {} };
let checks = 0;

function log(text) {
  console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${text}`);
}

function check(ok, what, detail = "") {
  if (!ok) throw new Error(`FAILED: ${what}${detail ? ` (${detail})` : ""}`);
  checks += 1;
  summary.checks.push(what);
  log(`ok ${checks}: ${what}${detail ? ` (${detail})` : ""}`);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll `fn` (in node) until it returns a truthy value; that value, or throw after timeout. */
async function until(what, fn, timeoutMs = STEP_TIMEOUT_MS, everyMs = 100) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** The page's test hook, read in the page: the room view as plain data. */
function viewOf(page) {
  return page.evaluate(() => {
    const v = window.studyverse?.view();
    if (!v) return null;
    return {
      roomId: v.roomId, mySlot: v.mySlot, ownerId: v.ownerId,
      members: [...v.members.values()].map((m) => ({
        slot: m.slot, name: m.display_name, attention: m.attention, kind: m.kind })),
      timer: { ...v.timer },
    };
  });
}

async function signIn(page, name) {
  await page.goto(`${BASE}/`);
  await page.fill("#display-name", name);
  await page.click("#guest");
  await page.waitForSelector("#create-form", { state: "visible", timeout: STEP_TIMEOUT_MS });
  await page.waitForFunction(() => document.getElementById("nav-who")?.textContent?.includes("(guest)"));
}

/** Screenshot of page's avatar canvas, decoded. */
async function stageShot(page, name) {
  const png = await page.locator('[data-testid="stage"] canvas').screenshot({ animations: "allow" });
  if (OUT) writeFileSync(join(OUT, `${name}.png`), png);
  return decodePng(png);
}

function remaining(text) {
  const m = /(\d+):(\d{2})(?!.*\d:\d)/.exec(text);
  return m ? Number(m[1]) * 60 + Number(m[2]) : null;
}

async function scenario(browser, pages, consoleLines) {
  const newPage = async (label) => {
    const context = await browser.newContext({ viewport: { width: 1024, height: 720 } });
    const page = await context.newPage();
    page.on("console", (msg) => consoleLines.push(`${label} console.${msg.type()}: ${msg.text()}`));
    page.on("pageerror", (err) => consoleLines.push(`${label} page error: ${err.message}`));
    pages[label] = page;
    return page;
  };

  // --- 0. the recording the server lists ------------------------------------------------
  const listing = await (await fetch(`${BASE}/recordings/`)).json();
  const entry = listing.recordings.find((r) => r.name === RECORDING);
  check(entry !== undefined && entry.frames > 0, `GET /recordings/ lists ${RECORDING}`,
    entry ? `${entry.format}, ${entry.frames} frames, ${entry.duration_s} s` : JSON.stringify(listing));

  // --- 1. two pages, one room ------------------------------------------------------------
  const a = await newPage("A");
  const b = await newPage("B");
  await Promise.all([signIn(a, "Ada"), signIn(b, "Bo")]);
  check(true, "both pages signed in as guests through the lobby form");

  await a.fill("#room-name", "E2E room");
  await a.click("#create");
  await a.waitForURL(/#room=/, { timeout: STEP_TIMEOUT_MS });
  const roomId = decodeURIComponent(new URL(a.url()).hash.replace(/^#room=/, ""));
  const viewA = await until("page A in its room", async () => {
    const v = await viewOf(a);
    return v && v.roomId === roomId && v.mySlot !== null ? v : null;
  });
  const slotA = viewA.mySlot;
  const infoLine = await until("page A shows the invite code", () => a.evaluate(
    () => [...document.querySelectorAll("p")].map((p) => p.textContent ?? "")
      .find((t) => /invite code \S+/.test(t)) ?? null));
  const invite = /invite code (\S+)/.exec(infoLine)[1];
  check(Boolean(invite), "page A created the room and shows its invite code", `slot ${slotA}`);

  await b.fill("#invite", invite);
  await b.click("#join");
  await b.waitForURL((url) => url.hash === `#room=${encodeURIComponent(roomId)}`,
    { timeout: STEP_TIMEOUT_MS, waitUntil: "commit" });
  log("page B resolved the invite code to the room's link");
  const [seenByB, seenByA] = await Promise.all([
    until("page B sees both members", async () => {
      const v = await viewOf(b);
      return v && v.roomId === roomId && v.mySlot !== null && v.members.length === 2 ? v : null;
    }),
    until("page A sees both members", async () => {
      const v = await viewOf(a);
      return v && v.members.length === 2 ? v : null;
    }),
  ]);
  const slotB = seenByB.mySlot;
  check(slotB !== slotA && seenByB.members.some((m) => m.slot === slotA && m.name === "Ada")
    && seenByA.members.some((m) => m.slot === slotB && m.name === "Bo"),
  "page B joined by invite code; each page sees the other member", `A slot ${slotA}, B slot ${slotB}`);

  const stageReady = (page, slot) => until(`${page === a ? "A" : "B"}'s stage shows slot ${slot}`,
    () => page.evaluate((s) => {
      const stage = window.studyverse?.stage;
      return stage ? { error: stage.error ?? null, has: stage.morphWeights(s) !== null,
        canvas: document.querySelector('[data-testid="stage"] canvas') !== null } : null;
    }, slot).then((r) => (r && r.has ? r : null)));
  const stageB = await stageReady(b, slotA);
  check(stageB.error === null && stageB.canvas, "page B draws the avatars on a WebGL canvas",
    stageB.error ?? "");

  // still: nothing has sent frames yet, the avatars rest
  const still1 = await stageShot(b, "b-still-1");
  await sleep(300);
  const still2 = await stageShot(b, "b-still-2");
  const stillDiff = pixelDiff(still1, still2);
  check(stillDiff.count < MIN_CHANGED_PIXELS, "page B's avatars stand still without frames",
    `${stillDiff.count} px changed of ${still1.width}x${still1.height}`);
  const restWeights = await b.evaluate((s) => window.studyverse.stage.morphWeights(s), slotA);

  // A plays the recording from the page's own face card
  const recSelect = a.locator('select[aria-label="recording to play"]');
  const wanted = await until(`page A lists ${RECORDING}`, () => recSelect.evaluate(
    (sel, name) => [...sel.options].map((o) => o.value)
      .find((v) => decodeURIComponent(v).endsWith(`/${name}`)) ?? null, RECORDING));
  await recSelect.selectOption(wanted);
  await a.click("#play-recording");
  await a.waitForFunction(() => document.querySelector('[data-testid="face-status"]')
    ?.textContent?.includes("playing the recording"), null, { timeout: STEP_TIMEOUT_MS });
  check(true, `page A plays ${wanted} as its face`);

  // --- 2. B sees A's face move -------------------------------------------------------------
  const moving = (w) => w !== null && Object.entries(w).some(
    ([k, v]) => Math.abs(v - (restWeights?.[k] ?? 0)) > 0.02);
  log("page A's frames sent: waiting for its avatar on page B to move");
  await until("A's avatar on page B moves", () =>
    b.evaluate((s) => window.studyverse.stage.morphWeights(s), slotA).then(moving));
  const samples = [];
  const sampleStart = Date.now();
  const shots = [];
  for (let i = 0; i < SAMPLES; i += 1) {
    samples.push(await b.evaluate((s) => window.studyverse.stage.morphWeights(s), slotA));
    await sleep(SAMPLE_EVERY_MS);
  }
  const sampledMs = Date.now() - sampleStart;
  shots.push(await stageShot(b, "b-moving-1"));
  await sleep(500);
  shots.push(await stageShot(b, "b-moving-2"));
  const keys = Object.keys(samples[0]);
  const distinct = new Set(samples.map((w) => keys.map((k) => w[k].toFixed(3)).join(","))).size;
  const ranges = keys.map((k) => [k, Math.max(...samples.map((w) => w[k]))
    - Math.min(...samples.map((w) => w[k]))]).sort((x, y) => y[1] - x[1]);
  check(keys.length >= 40 && distinct >= MIN_DISTINCT_VECTORS,
    "A's morph weights on page B change over time",
    `${distinct} distinct of ${SAMPLES} vectors over ${sampledMs} ms; most varied `
    + ranges.slice(0, 3).map(([k, r]) => `${k} ${r.toFixed(2)}`).join(", "));
  check(ranges[0][1] > 0.05, "the change is a real expression change, not rounding",
    `${ranges[0][0]} spans ${ranges[0][1].toFixed(3)}`);

  // the stage's grid (avatar/driver.ts gridLayout): slots in order, ceil(sqrt(n)) columns
  const slots = (await viewOf(b)).members.map((m) => m.slot).sort((x, y) => x - y);
  const cols = Math.min(Math.ceil(Math.sqrt(slots.length)), 4);
  const cells = slots.map((slot, i) => ({ slot, col: i % cols }));
  const colA = cells.find((c) => c.slot === slotA)?.col ?? 0;
  for (const [label, before, after] of [["the still one", still2, shots[0]],
    ["the still one", still2, shots[1]], ["an earlier moving one", shots[0], shots[1]]]) {
    const d = pixelDiff(before, after);
    const sideOk = cols < 2 || Math.floor((d.meanX / d.width) * cols) === colA;
    check(d.count >= MIN_CHANGED_PIXELS && sideOk,
      `a screenshot of B's avatars while A plays differs from ${label}, in A's column`,
      `${d.count} px changed, mean x ${Math.round(d.meanX)} of ${d.width} (A in column ${colA} of ${cols})`);
  }

  // --- 3. the timer agrees on both pages ------------------------------------------------
  check(await b.locator('[data-testid="owner-controls"]').isHidden(),
    "page B (not the owner) has no timer controls");
  await a.click("#timer-start");
  await Promise.all([a, b].map((page) => page.waitForFunction(
    () => window.studyverse.timerText().startsWith("Focus"), null, { timeout: STEP_TIMEOUT_MS })));
  const [endA, endB] = await Promise.all([a, b].map((page) =>
    page.evaluate(() => window.studyverse.view().timer.phase_ends_ms)));
  check(endA !== null && endA === endB, "both pages hold the same absolute phase end",
    `phase_ends_ms ${endA}`);
  let worst = 0;
  for (let i = 0; i < 4; i += 1) {
    const [ta, tb] = await Promise.all([a, b].map((page) => page.evaluate(() => ({
      hook: window.studyverse.timerText(),
      dom: document.querySelector('[data-testid="timer-text"]')?.textContent ?? "",
    }))));
    const secs = [ta.hook, tb.hook, ta.dom, tb.dom].map(remaining);
    check(secs.every((s) => s !== null && s > 24 * 60 && s <= 25 * 60)
      && Math.abs(secs[0] - secs[1]) <= 1 && Math.abs(secs[2] - secs[3]) <= 1,
    `timer ${i + 1}: A and B show the same time within 1 s (hook and DOM)`,
    `A "${ta.hook}" / "${ta.dom}", B "${tb.hook}" / "${tb.dom}"`);
    worst = Math.max(worst, Math.abs(secs[0] - secs[1]));
    await sleep(350);
  }
  summary.timings.timer_worst_s = worst;

  // --- 4. A hides its face: B shows A distracted after the configured time ------------------
  const attentionOnB = () => b.evaluate((s) => ({
    hook: window.studyverse.view().members.get(s)?.attention ?? null,
    dom: document.querySelector(`[data-testid="members"] [data-slot="${s}"]`)
      ?.getAttribute("data-attention") ?? null,
  }), slotA);
  const focused = await until("page B shows A focused", async () => {
    const att = await attentionOnB();
    return att.hook === "focused" && att.dom === "focused" ? att : null;
  });
  check(Boolean(focused), "page B shows A focused while the recording plays");
  const hiddenAt = Date.now();
  await a.check("#hide-face");
  const seen = [];
  const distracted = await until("page B shows A distracted", async () => {
    const att = await attentionOnB();
    if (seen.at(-1) !== att.hook) seen.push(att.hook);
    return att.hook === "distracted" && att.dom === "distracted" ? Date.now() - hiddenAt : null;
  }, DISTRACTED_AFTER_MS + STEP_TIMEOUT_MS, 50);
  summary.timings.distracted_after_hide_ms = distracted;
  check(distracted >= DISTRACTED_AFTER_MS - 100 && distracted <= DISTRACTED_AFTER_MS + 8000,
    "page B shows A distracted after the configured time (hook and badge)",
    `${distracted} ms after hiding, configured ${DISTRACTED_AFTER_MS} ms; states ${seen.join(" -> ")}`);
  const asleep = await until("A's avatar on page B falls asleep", () => b.evaluate(
    (s) => window.studyverse.stage.avatarState(s), slotA).then((st) => (st && st.asleep > 0.5 ? st : null)));
  check(asleep.asleep > 0.5, "A's avatar on page B shows the asleep pose",
    `asleep ${asleep.asleep.toFixed(2)}`);
}

async function main() {
  if (!BASE) throw new Error("set STUDYVERSE_E2E_URL to the server's base URL");
  if (OUT) mkdirSync(OUT, { recursive: true });
  const guard = setTimeout(() => {
    console.error(`FAILED: the run took over ${RUN_LIMIT_MS} ms`);
    process.exit(1);
  }, RUN_LIMIT_MS);
  guard.unref();
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true,
    args: CHROMIUM_ARGS });
  log(`${CHROMIUM} ${browser.version()} against ${BASE}`);
  const pages = {};
  const consoleLines = [];
  let failed = null;
  try {
    await scenario(browser, pages, consoleLines);
  } catch (err) {
    failed = err;
    if (OUT) {
      for (const [label, page] of Object.entries(pages)) {
        await page.screenshot({ path: join(OUT, `failure-${label}.png`), fullPage: true })
          .catch(() => {});
      }
    }
  } finally {
    await browser.close().catch(() => {});
  }
  summary.timings.total_ms = Date.now() - started;
  if (OUT) writeFileSync(join(OUT, "summary.json"), JSON.stringify(summary, null, 2));
  if (failed !== null) {
    console.error(failed instanceof Error ? failed.stack ?? failed.message : String(failed));
    console.error("--- page console (last 60 lines) ---");
    console.error(consoleLines.slice(-60).join("\n"));
    process.exit(1);
  }
  log(`e2e: ${checks} checks passed in ${summary.timings.total_ms} ms`);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack ?? err.message : String(err));
  process.exit(1);
});

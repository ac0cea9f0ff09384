/**
 * The progress page (`#progress`): level bar (`GET /api/me/progress`), garden
 * (`GET /api/me/garden`), a streak calendar of the last 28 days (`GET /api/me/sessions`),
 * and charts (Chart.js, loaded with this page only) of `GET /api/me/stats/weekly-pattern`,
 * `/productive-hours` and `/interruption-types` for a chosen range (7d, 30d, all).
 */

import type { Chart as ChartType, ChartConfiguration } from "chart.js";
import type {
  FocusSessions, Garden, InterruptionTypes, ProductiveHours, ProgressInfo, StatsRange,
  WeeklyPattern,
} from "../protocol";
import type { App } from "./app";
import { describeError, h, setText } from "./dom";
import { hoursMinutes, streakCalendar } from "./format";

const RARITY_ICONS: Record<string, string> = {
  withered: "🥀", common: "🌱", uncommon: "🌿", rare: "🌷", epic: "🌻", legendary: "🌳",
};
const CALENDAR_DAYS = 28;

/** Chart data of the three stats answers, minutes per bucket (pure). */
export function chartData(weekly: WeeklyPattern, hours: ProductiveHours,
  types: InterruptionTypes): {
    weekly: { labels: string[]; focused: number[]; lost: number[] };
    hours: { labels: string[]; focused: number[]; lost: number[] };
    types: { labels: string[]; minutes: number[]; counts: number[] };
  } {
  const min = (s: number): number => Math.round((s / 60) * 10) / 10;
  const days = [...weekly.days].sort((a, b) => a.weekday - b.weekday);
  const byHour = new Map(hours.hours.map((x) => [x.hour, x]));
  const hourList = Array.from({ length: 24 }, (_, i) => i);
  return {
    weekly: { labels: days.map((d) => d.weekday_name.slice(0, 3)),
      focused: days.map((d) => min(d.focused_s)), lost: days.map((d) => min(d.lost_s)) },
    hours: { labels: hourList.map((i) => `${String(i).padStart(2, "0")}:00`),
      focused: hourList.map((i) => min(byHour.get(i)?.focused_s ?? 0)),
      lost: hourList.map((i) => min(byHour.get(i)?.lost_s ?? 0)) },
    types: { labels: types.types.map((t) => `${t.kind} (${t.source})`),
      minutes: types.types.map((t) => min(t.seconds)), counts: types.types.map((t) => t.count) },
  };
}

export function mountProgress(app: App, root: HTMLElement): () => void {
  const charts: ChartType[] = [];
  let disposed = false;
  const level = h("section", { class: "card", "data-testid": "level" }, h("h2", {}, "Level"));
  const garden = h("section", { class: "card", "data-testid": "garden" }, h("h2", {}, "Garden"));
  const calendar = h("section", { class: "card", "data-testid": "calendar" },
    h("h2", {}, "Streak"));
  const rangeSel = h("select", { "aria-label": "range", id: "stats-range" },
    h("option", { value: "7d" }, "last 7 days"), h("option", { value: "30d", selected: true },
      "last 30 days"), h("option", { value: "all" }, "all time"));
  const canvases = {
    weekly: h("canvas", { "aria-label": "focus per weekday", role: "img" }),
    hours: h("canvas", { "aria-label": "focus per hour", role: "img" }),
    types: h("canvas", { "aria-label": "interruptions by type", role: "img" }),
  };
  const chartNote = h("p", { class: "muted" });
  const stats = h("section", { class: "card charts", "data-testid": "charts" },
    h("h2", {}, "Patterns ", rangeSel), chartNote,
    h("div", { class: "chart-grid" },
      h("figure", {}, h("figcaption", {}, "Focus by weekday (min)"), canvases.weekly),
      h("figure", {}, h("figcaption", {}, "Focus by hour (min)"), canvases.hours),
      h("figure", {}, h("figcaption", {}, "Interruptions (min)"), canvases.types)));
  root.replaceChildren(h("div", { class: "page progress" }, level, calendar, garden, stats));

  async function loadLevel(): Promise<ProgressInfo | null> {
    try {
      const p = await app.get<ProgressInfo>("/api/me/progress");
      const bar = h("progress", { max: 1, value: p.level_progress });
      level.replaceChildren(h("h2", {}, `Level ${p.level}`), bar,
        h("p", {}, `${p.xp} XP · ${p.xp_to_next_level} XP to level ${p.level + 1}`),
        h("p", {}, `Streak ${p.streak.current} (best ${p.streak.best}), ${p.streak.freezes} freezes`
          + ` · today ${hoursMinutes(p.streak.today_focused_s)} of ${hoursMinutes(p.streak.goal_s)}`
          + (p.streak.today_counted ? " ✔" : "")));
      return p;
    } catch (err) {
      level.append(h("p", { class: "error" }, describeError(err)));
      return null;
    }
  }

  async function loadGarden(): Promise<void> {
    try {
      const g = await app.get<Garden>("/api/me/garden?limit=200");
      const counts = Object.entries(g.counts).map(([r, n]) => `${RARITY_ICONS[r] ?? "🌱"} ${r} ${n}`);
      garden.replaceChildren(h("h2", {}, `Garden (${g.total})`),
        h("p", {}, counts.join(" · ") || "No plants yet: finish a focus phase."),
        h("div", { class: "plants" }, ...g.plants.map((p) => h("span", {
          class: `plant ${p.rarity}`, title: `${p.rarity}, ${new Date(p.planted_ms).toLocaleString()}`,
        }, RARITY_ICONS[p.rarity] ?? "🌱"))));
    } catch (err) {
      garden.append(h("p", { class: "error" }, describeError(err)));
    }
  }

  async function loadCalendar(): Promise<void> {
    try {
      const now = Date.now();
      const from = now - (CALENDAR_DAYS + 1) * 86_400_000;
      const [page, me] = await Promise.all([
        app.get<FocusSessions>(`/api/me/sessions?from=${from}&to=${now}&limit=200`),
        app.get<{ day_start_hour: number }>("/api/me"),
      ]);
      // days in this browser's zone, starting at the user's day start hour
      const days = streakCalendar(page.sessions, now, CALENDAR_DAYS, me.day_start_hour);
      calendar.replaceChildren(h("h2", {}, "Last 4 weeks"), h("div", { class: "calendar" },
        ...days.map((d) => h("span", {
          class: `day l${Math.min(4, Math.ceil(d.focusedS / 1800))}`,
          title: `${d.day}: ${hoursMinutes(d.focusedS)} in ${d.sessions} session(s)`,
        }, d.day.slice(8)))));
    } catch (err) {
      calendar.append(h("p", { class: "error" }, describeError(err)));
    }
  }

  async function loadCharts(range: StatsRange): Promise<void> {
    setText(chartNote, "loading...");
    try {
      const [weekly, hours, types, lib] = await Promise.all([
        app.get<WeeklyPattern>(`/api/me/stats/weekly-pattern?range=${range}`),
        app.get<ProductiveHours>(`/api/me/stats/productive-hours?range=${range}`),
        app.get<InterruptionTypes>(`/api/me/stats/interruption-types?range=${range}`),
        import("chart.js"),
      ]);
      if (disposed) return;
      lib.Chart.register(...lib.registerables);
      for (const c of charts.splice(0)) c.destroy();
      const d = chartData(weekly, hours, types);
      const bar = (labels: string[], focused: number[], lost: number[]): ChartConfiguration => ({
        type: "bar",
        data: { labels, datasets: [
          { label: "focused", data: focused, backgroundColor: "#3b82f6" },
          { label: "lost", data: lost, backgroundColor: "#f97316" },
        ] },
        options: { responsive: true, animation: false, scales: { y: { beginAtZero: true } } },
      });
      charts.push(new lib.Chart(canvases.weekly, bar(d.weekly.labels, d.weekly.focused, d.weekly.lost)));
      charts.push(new lib.Chart(canvases.hours, bar(d.hours.labels, d.hours.focused, d.hours.lost)));
      charts.push(new lib.Chart(canvases.types, {
        type: "doughnut",
        data: { labels: d.types.labels, datasets: [{ label: "minutes", data: d.types.minutes }] },
        options: { responsive: true, animation: false },
      }));
      setText(chartNote, `${weekly.window.timezone}, days start at ${weekly.window.day_start_hour}:00`
        + (d.types.labels.length === 0 ? " · no interruptions" : ""));
    } catch (err) {
      setText(chartNote, describeError(err));
    }
  }

  if (app.auth.session === null) {
    root.replaceChildren(h("p", {}, "Sign in (lobby) to see your progress."));
    return () => {};
  }
  rangeSel.addEventListener("change", () => void loadCharts(rangeSel.value as StatsRange));
  void loadLevel();
  void loadGarden();
  void loadCalendar();
  void loadCharts("30d");
  return () => {
    disposed = true;
    for (const c of charts.splice(0)) c.destroy();
  };
}

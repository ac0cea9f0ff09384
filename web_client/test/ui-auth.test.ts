import { describe, expect, it } from "vitest";
import { Api } from "../src/api";
import {
  Auth, MIN_REFRESH_DELAY_MS, REFRESH_RETRY_MS, refreshDelayMs, type Scheduler, type TokenStore,
} from "../src/ui/auth";

/** A scheduler whose timers run only when the test says so. */
class FakeScheduler implements Scheduler {
  pending: { fn: () => void; ms: number; id: number }[] = [];
  private next = 0;
  set(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.pending.push({ fn, ms, id });
    return id;
  }
  clear(handle: unknown): void {
    this.pending = this.pending.filter((p) => p.id !== handle);
  }
  fire(): number {
    const p = this.pending.shift();
    if (p === undefined) throw new Error("nothing scheduled");
    p.fn();
    return p.ms;
  }
}

function memoryStore(initial: string | null = null): TokenStore & { value: string | null } {
  const s = { value: initial, load: () => s.value, save: (t: string | null) => { s.value = t; } };
  return s;
}

function session(n: number, guest = false): object {
  return { access_token: `a${n}`, token_type: "bearer", expires_in: 900,
    ...(guest ? {} : { refresh_token: `r${n}` }),
    user: { id: "u1", display_name: "Ada", is_guest: guest, username: guest ? undefined : "ada" } };
}

type Call = { url: string; body: unknown; auth: string | null };

function fakeApi(answers: ((call: Call) => [number, unknown])[]): { api: Api; calls: Call[] } {
  const calls: Call[] = [];
  const api = new Api("", async (url, init) => {
    const headers = (init?.headers ?? {}) as Record<string, string>;
    const call = { url, body: init?.body ? JSON.parse(String(init.body)) : null,
      auth: headers.Authorization ?? null };
    calls.push(call);
    const answer = answers.shift();
    if (answer === undefined) throw new Error(`unexpected ${url}`);
    const [status, body] = answer(call);
    return new Response(JSON.stringify(body), { status });
  });
  return { api, calls };
}

const flush = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

describe("token refresh schedule", () => {
  it("refreshes at 80 % of the life, at least a minute before expiry", () => {
    expect(refreshDelayMs(900)).toBe(720_000);
    expect(refreshDelayMs(120)).toBe(60_000);
    expect(refreshDelayMs(60)).toBe(MIN_REFRESH_DELAY_MS);
    expect(refreshDelayMs(0)).toBe(MIN_REFRESH_DELAY_MS);
    expect(refreshDelayMs(250)).toBe(190_000);
  });
});

describe("Auth", () => {
  it("logs in, keeps the refresh token and rotates it before expiry", async () => {
    const sched = new FakeScheduler();
    const store = memoryStore();
    const { api, calls } = fakeApi([() => [200, session(1)], () => [200, session(2)],
      () => [200, session(3)]]);
    const auth = new Auth(api, store, sched);
    const seen: string[] = [];
    auth.onChange((s, why) => seen.push(`${why}:${s?.access_token ?? "-"}`));
    await auth.login("ada", "correct horse battery");
    expect(calls[0]).toMatchObject({ url: "/api/auth/login",
      body: { username: "ada", password: "correct horse battery" } });
    expect(auth.token()).toBe("a1");
    expect(auth.isAccount).toBe(true);
    expect(store.value).toBe("r1");
    expect(sched.pending.map((p) => p.ms)).toEqual([720_000]);

    sched.fire();
    await flush();
    expect(calls[1]).toMatchObject({ url: "/api/auth/refresh", body: { refresh_token: "r1" } });
    expect(auth.token()).toBe("a2");
    expect(store.value).toBe("r2");
    expect(sched.pending).toHaveLength(1);
    sched.fire();
    await flush();
    expect(calls[2]!.body).toEqual({ refresh_token: "r2" });
    expect(seen).toEqual(["login:a1", "refresh:a2", "refresh:a3"]);
  });

  it("retries a failed refresh and signs out when the token is refused", async () => {
    const sched = new FakeScheduler();
    const store = memoryStore();
    const { api } = fakeApi([() => [200, session(1)],
      () => [503, { error: { code: "unavailable", message: "db down" } }],
      () => [401, { error: { code: "unauthorized", message: "reused" } }]]);
    const auth = new Auth(api, store, sched);
    const seen: string[] = [];
    auth.onChange((s, why) => seen.push(`${why}:${s === null ? "out" : "in"}`));
    await auth.login("ada", "x".repeat(10));
    sched.fire();
    await flush();
    expect(auth.token()).toBe("a1"); // kept: still valid until it expires
    expect(sched.pending.map((p) => p.ms)).toEqual([REFRESH_RETRY_MS]);
    sched.fire();
    await flush();
    expect(auth.session).toBeNull();
    expect(store.value).toBeNull();
    expect(sched.pending).toHaveLength(0);
    expect(seen).toEqual(["login:in", "refresh refused:out"]);
  });

  it("resumes from a stored token, forgets a refused one, never refreshes guests", async () => {
    const sched = new FakeScheduler();
    const { api, calls } = fakeApi([() => [200, session(5)],
      () => [401, { error: { code: "unauthorized", message: "expired" } }],
      () => [201, session(7, true)],
      (c) => [201, { ...session(8), echo: c.auth }]]);
    const store = memoryStore("r4");
    const auth = new Auth(api, store, sched);
    expect((await auth.resume())?.access_token).toBe("a5");
    expect(calls[0]!.body).toEqual({ refresh_token: "r4" });

    const stale = memoryStore("old");
    const auth2 = new Auth(api, stale, sched);
    expect(await auth2.resume()).toBeNull();
    expect(stale.value).toBeNull();
    expect(await new Auth(api, memoryStore(), sched).resume()).toBeNull();

    const guestAuth = new Auth(api, memoryStore(), new FakeScheduler());
    await guestAuth.guest("Bo");
    expect(guestAuth.isAccount).toBe(false);
    await expect(guestAuth.refresh()).rejects.toThrow("guest");
    // registering as a guest sends the guest's token, so the guest becomes the account
    await guestAuth.register("bo_b", "long enough pw", "Bo");
    expect(calls[3]).toMatchObject({ url: "/api/auth/register", auth: "Bearer a7",
      body: { username: "bo_b", password: "long enough pw", display_name: "Bo" } });
    expect(guestAuth.isAccount).toBe(true);
  });

  it("two tabs of one account refresh with the newest stored token", async () => {
    const store = memoryStore();
    const { api, calls } = fakeApi([() => [200, session(1)], () => [200, session(2)],
      () => [200, session(3)]]);
    const tabA = new Auth(api, store, new FakeScheduler());
    await tabA.login("ada", "x".repeat(10));
    const tabB = new Auth(api, store, new FakeScheduler());
    await tabB.resume(); // spends r1, stores r2
    expect(store.value).toBe("r2");
    await tabA.refresh(); // A adopted r1, which is spent: it must use r2
    expect(calls[2]!.body).toEqual({ refresh_token: "r2" });
    expect(store.value).toBe("r3");
  });

  it("logs out with the refresh token and stops refreshing", async () => {
    const sched = new FakeScheduler();
    const store = memoryStore();
    const { api, calls } = fakeApi([() => [200, session(1)], () => [204, null]]);
    const auth = new Auth(api, store, sched);
    await auth.login("ada", "x".repeat(10));
    await auth.logout();
    expect(calls[1]).toMatchObject({ url: "/api/auth/logout", body: { refresh_token: "r1" },
      auth: "Bearer a1" });
    expect(auth.session).toBeNull();
    expect(store.value).toBeNull();
    expect(sched.pending).toHaveLength(0);
  });
});

describe("guest sessions", () => {
  it("with a refresh token: refreshed like accounts, kept for this tab only", async () => {
    const now = 1_000_000;
    const store = Object.assign(memoryStore(), { guest: null as string | null,
      loadGuest(): string | null { return this.guest; },
      saveGuest(j: string | null): void { this.guest = j; } });
    const sched = new FakeScheduler();
    const guestSession = (n: number): object => ({ ...(session(n, true) as object),
      refresh_token: `g${n}` });
    const { api, calls } = fakeApi([() => [201, guestSession(1)], () => [200, guestSession(2)],
      () => [200, guestSession(3)], () => [401, { error: { code: "unauthorized",
        message: "reused" } }]]);
    const auth = new Auth(api, store, sched, () => now);
    await auth.guest("Bo");
    expect(store.value).toBeNull(); // never in localStorage: other tabs start their own guest
    expect(JSON.parse(store.guest!)).toMatchObject({ session: { refresh_token: "g1" } });
    expect(sched.pending).toHaveLength(1);
    sched.fire();
    await flush();
    expect(calls[1]).toMatchObject({ url: "/api/auth/refresh", body: { refresh_token: "g1" } });
    expect(auth.token()).toBe("a2");
    expect(JSON.parse(store.guest!)).toMatchObject({ session: { refresh_token: "g2" } });
    // a reload (or a reconnect after the access token expired) refreshes: same guest
    const reloaded = new Auth(api, store, new FakeScheduler(), () => now + 3_600_000);
    expect((await reloaded.resume())?.access_token).toBe("a3");
    expect(calls[2]!.body).toEqual({ refresh_token: "g2" });
    expect(reloaded.isAccount).toBe(false);
    // a refused refresh token is forgotten
    store.guest = JSON.stringify({ session: guestSession(9), expiresMs: 0 });
    expect(await new Auth(api, store, new FakeScheduler()).resume()).toBeNull();
    expect(store.guest).toBeNull();
  });


  it("are kept for this tab until shortly before they expire, and never refreshed", async () => {
    let now = 1_000_000;
    const store = Object.assign(memoryStore(), { guest: null as string | null,
      loadGuest(): string | null { return this.guest; },
      saveGuest(j: string | null): void { this.guest = j; } });
    const sched = new FakeScheduler();
    const { api, calls } = fakeApi([() => [201, session(1, true)], () => [200, session(2)]]);
    const auth = new Auth(api, store, sched, () => now);
    await auth.guest("Bo");
    expect(sched.pending).toHaveLength(0);
    expect(JSON.parse(store.guest!)).toMatchObject({ expiresMs: 1_000_000 + 900_000,
      session: { access_token: "a1" } });

    // a reload 10 min later reuses it without a request
    now += 600_000;
    const again = new Auth(api, store, sched, () => now);
    expect((await again.resume())?.access_token).toBe("a1");
    expect(calls).toHaveLength(1);
    // with under a minute left it is dropped
    now += 250_000;
    expect(await new Auth(api, store, sched, () => now).resume()).toBeNull();
    expect(store.guest).toBeNull();

    // registering turns the stored guest into an account: only the refresh token is kept
    store.guest = "{}";
    await again.register("bo_b", "long enough pw");
    expect(store.guest).toBeNull();
    expect(store.value).toBe("r2");
    store.guest = "not json";
    store.value = null;
    expect(await new Auth(api, store, sched, () => now).resume()).toBeNull();
  });
});

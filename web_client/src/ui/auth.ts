/**
 * Sign-in state of the tab: a guest or an account session (README "HTTP API": register,
 * login, refresh). Every session refreshes its 15-minute access token before it expires with
 * its rotating refresh token. Accounts keep theirs in localStorage (a reload stays signed in);
 * a guest's session, refresh token included, is this tab's only (sessionStorage), so a reload
 * or a reconnect past 15 min keeps the guest's user and slot while another tab starts its
 * own guest. (A guest session from an older server without a refresh token is reused until
 * shortly before it expires.)
 *
 * `refreshDelayMs` is the pure schedule; `Auth` takes its clock and timer as arguments so
 * tests drive it without waiting.
 */

import { Api, ApiError } from "../api";
import type { AccountSession, GuestSession } from "../protocol";

/** Refresh this long before the access token expires, ms (at most a fifth of its life). */
export const REFRESH_MARGIN_MS = 60_000;
/** Never schedule a refresh sooner than this, ms. */
export const MIN_REFRESH_DELAY_MS = 5_000;
/** Retry delay after a refresh that failed for a reason other than a refused token, ms. */
export const REFRESH_RETRY_MS = 10_000;

/** When to refresh a token that is valid `expiresInS` s from when it was issued, ms from
 * then: `REFRESH_MARGIN_MS` before it expires, or at 80 % of its life if that is sooner,
 * never before MIN_REFRESH_DELAY_MS. */
export function refreshDelayMs(expiresInS: number): number {
  const life = Math.max(0, expiresInS * 1000);
  return Math.max(MIN_REFRESH_DELAY_MS, Math.min(life - REFRESH_MARGIN_MS, life * 0.8));
}

export interface Scheduler {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const realScheduler: Scheduler = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Where the refresh token is kept between page loads (localStorage in the browser), and,
 * optionally, a guest's session (sessionStorage: this tab only, until it expires). */
export interface TokenStore {
  load(): string | null;
  save(refreshToken: string | null): void;
  loadGuest?(): string | null;
  saveGuest?(json: string | null): void;
}

/** A stored guest session: the session and the epoch ms its access token expires. */
interface StoredGuest {
  session: GuestSession;
  expiresMs: number;
}

/** Reuse a stored guest session only while it has this long left, ms. */
export const GUEST_REUSE_MIN_MS = 60_000;

export const REFRESH_KEY = "studyverse.refresh_token";
/** The Web Locks name serializing refreshes across this origin's tabs. */
export const REFRESH_LOCK = "studyverse.refresh";

/** The part of the browser's `LockManager` used here. */
interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
}
export const GUEST_KEY = "studyverse.guest_session";

export function localTokenStore(): TokenStore {
  return {
    load: () => localStorage.getItem(REFRESH_KEY),
    save: (t) => (t === null ? localStorage.removeItem(REFRESH_KEY) : localStorage.setItem(REFRESH_KEY, t)),
    loadGuest: () => sessionStorage.getItem(GUEST_KEY),
    saveGuest: (j) => (j === null ? sessionStorage.removeItem(GUEST_KEY) : sessionStorage.setItem(GUEST_KEY, j)),
  };
}

export type AuthListener = (session: GuestSession | null, reason: string) => void;

/** The tab's current session; `token()` always gives the newest access token. */
export class Auth {
  private current: GuestSession | null = null;
  private timer: unknown = null;
  private readonly listeners = new Set<AuthListener>();

  constructor(
    readonly api: Api,
    private readonly store: TokenStore,
    private readonly scheduler: Scheduler = realScheduler,
    private readonly now: () => number = () => Date.now(),
  ) {}

  get session(): GuestSession | null {
    return this.current;
  }

  get isAccount(): boolean {
    return this.current !== null && !this.current.user.is_guest;
  }

  /** The current access token ("" when signed out). */
  token(): string {
    return this.current?.access_token ?? "";
  }

  onChange(listener: AuthListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** `POST /api/auth/guest`. */
  async guest(displayName: string): Promise<GuestSession> {
    return this.adopt(await this.api.guest(displayName), "guest");
  }

  /** `POST /api/auth/register` (a signed-in guest becomes the account, keeping progress). */
  async register(username: string, password: string, displayName?: string): Promise<GuestSession> {
    const body: Record<string, unknown> = { username, password };
    if (displayName) body.display_name = displayName;
    try {
      body.timezone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    } catch {
      // the server defaults to UTC
    }
    const guestToken = this.current?.user.is_guest ? this.current.access_token : undefined;
    const s = await this.api.request<AccountSession>("POST", "/api/auth/register", body, guestToken);
    return this.adopt(s, "register");
  }

  /** `POST /api/auth/login`. */
  async login(username: string, password: string): Promise<GuestSession> {
    const s = await this.api.request<AccountSession>("POST", "/api/auth/login",
      { username, password });
    return this.adopt(s, "login");
  }

  /** Sign in again from the stored refresh token, else this tab's stored guest session
   * while it has GUEST_REUSE_MIN_MS left; null when neither (a refused refresh token is
   * forgotten). Network failures throw ApiError. */
  async resume(): Promise<GuestSession | null> {
    const token = this.store.load();
    if (!token) return await this.resumeGuest();
    try {
      return await this.refreshWith(token);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        this.store.save(null);
        return null;
      }
      throw err;
    }
  }

  /** `POST /api/auth/logout` (best effort) and forget the session. */
  async logout(): Promise<void> {
    const s = this.current;
    this.drop("logout");
    if (s?.refresh_token) {
      try {
        await this.api.request("POST", "/api/auth/logout", { refresh_token: s.refresh_token },
          s.access_token);
      } catch {
        // the tokens expire anyway
      }
    }
  }

  /** Refresh now (also run by the schedule). An account's tabs share one refresh token
   * (localStorage) and each rotation spends it, so the newest stored one is used, not the
   * one this tab adopted (refreshing with a token another tab already spent would look
   * like reuse and revoke the whole family), and refreshes are serialized across tabs with
   * the Web Locks API where the browser has it. */
  async refresh(): Promise<GuestSession> {
    const run = async (): Promise<GuestSession> => {
      const token = (this.isAccount ? this.store.load() : null) ?? this.current?.refresh_token;
      if (!token) throw new Error("a guest session without a refresh token cannot be refreshed");
      return this.refreshWith(token);
    };
    const locks = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;
    return locks ? locks.request(REFRESH_LOCK, run) : run();
  }

  dispose(): void {
    if (this.timer !== null) this.scheduler.clear(this.timer);
    this.timer = null;
    this.listeners.clear();
  }

  private async resumeGuest(): Promise<GuestSession | null> {
    const text = this.store.loadGuest?.() ?? null;
    if (!text) return null;
    let stored: StoredGuest | null = null;
    try {
      stored = JSON.parse(text) as StoredGuest;
    } catch {
      stored = null;
    }
    const refreshToken = stored?.session?.refresh_token;
    if (refreshToken) {
      try {
        return await this.refreshWith(refreshToken);
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) {
          this.store.saveGuest?.(null);
          return null;
        }
        throw err;
      }
    }
    if (stored === null || typeof stored.expiresMs !== "number" || !stored.session?.access_token
      || stored.expiresMs - this.now() < GUEST_REUSE_MIN_MS) {
      this.store.saveGuest?.(null);
      return null;
    }
    return this.adopt(stored.session, "guest", stored.expiresMs);
  }

  private async refreshWith(refreshToken: string): Promise<GuestSession> {
    const s = await this.api.request<AccountSession>("POST", "/api/auth/refresh",
      { refresh_token: refreshToken });
    return this.adopt(s, "refresh");
  }

  /** Make `session` current; `expiresMs`: its access token's expiry (epoch ms), when it
   * was not just issued. */
  private adopt(session: GuestSession, reason: string,
    expiresMs: number = this.now() + session.expires_in * 1000): GuestSession {
    this.current = session;
    if (session.user.is_guest) {  // this tab's own: sessionStorage, never localStorage
      this.store.save(null);
      const stored: StoredGuest = { session, expiresMs };
      this.store.saveGuest?.(JSON.stringify(stored));
    } else {
      this.store.save(session.refresh_token ?? null);
      this.store.saveGuest?.(null);
    }
    this.schedule(session.refresh_token ? refreshDelayMs(session.expires_in) : null);
    for (const l of this.listeners) l(session, reason);
    return session;
  }

  private drop(reason: string): void {
    this.current = null;
    this.store.save(null);
    this.store.saveGuest?.(null);
    this.schedule(null);
    for (const l of this.listeners) l(null, reason);
  }

  private schedule(delayMs: number | null): void {
    if (this.timer !== null) this.scheduler.clear(this.timer);
    this.timer = null;
    if (delayMs === null) return;
    this.timer = this.scheduler.set(() => {
      this.timer = null;
      this.refresh().catch((err: unknown) => {
        if (err instanceof ApiError && err.status === 401) this.drop("refresh refused");
        else this.schedule(REFRESH_RETRY_MS);
      });
    }, delayMs);
  }
}

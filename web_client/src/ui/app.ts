/**
 * What every page of the single-page client shares: the API, the sign-in (Auth), the one
 * Socket.IO session (connected on first need, replaced when another user signs in), the
 * status line and the test hook's stage. Pages are mounted into `root` by main.ts.
 */

import { Api } from "../api";
import type { GhostInfo } from "../protocol";
import { StudySession } from "../session";
import type { AvatarStageLike } from "./avatars";
import { Auth, localTokenStore } from "./auth";

export class App {
  readonly api = new Api();
  readonly auth = new Auth(this.api, localTokenStore());
  session: StudySession | null = null;
  /** The avatar stage of the mounted room or replay page, for the test hook. */
  stage: AvatarStageLike | null = null;
  /** The ring's text of the mounted page, for the test hook. */
  timerText: () => string = () => "";
  private sessionUser: string | null = null;
  private connecting: Promise<StudySession> | null = null;

  constructor(private readonly statusLine: HTMLElement) {
    this.auth.onChange((s, reason) => {
      if (s === null || (this.sessionUser !== null && s.user.id !== this.sessionUser)) {
        this.closeSession();
      }
      if (reason === "refresh refused") this.status("signed out: the session expired", true);
    });
  }

  status(text: string, isError = false): void {
    this.statusLine.textContent = text;
    this.statusLine.classList.toggle("error", isError);
  }

  /** The connected session of the signed-in user (connects and syncs the clock the first
   * time). Throws when signed out, ConnectError, AckError. */
  async ensureSession(): Promise<StudySession> {
    const signedIn = this.auth.session;
    if (signedIn === null) throw new Error("sign in first (lobby)");
    if (this.session !== null && this.sessionUser === signedIn.user.id) return this.session;
    this.closeSession();
    if (this.connecting === null) {
      this.connecting = StudySession.connect(this.api, this.auth).then((s) => {
        this.session = s;
        this.sessionUser = signedIn.user.id;
        return s;
      }).finally(() => {
        this.connecting = null;
      });
    }
    return this.connecting;
  }

  closeSession(): void {
    this.session?.close();
    this.session = null;
    this.sessionUser = null;
  }

  /** `GET /api/ghosts`: my recordings and the room ones shared with me, newest first. */
  async ghosts(limit = 50): Promise<GhostInfo[]> {
    const r = await this.api.request<{ ghosts: GhostInfo[] }>("GET",
      `/api/ghosts?limit=${limit}`, undefined, this.auth.token());
    return r.ghosts;
  }

  /** An authenticated GET of the HTTP API. */
  get<T>(path: string): Promise<T> {
    return this.api.request<T>("GET", path, undefined, this.auth.token());
  }
}

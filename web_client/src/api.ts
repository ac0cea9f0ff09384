/**
 * The HTTP API calls this slice needs (README.md "HTTP API"): guest login, room creation,
 * join by invite code, room lookup. Same origin by default; errors become ApiError with the
 * server's stable code.
 */

import type { CreatedRoom, GuestSession, InvitedRoom, ServerError } from "./protocol";

/** A failed HTTP call: `status` (0 when the network failed) and the server's error code. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, error: ServerError) {
    super(error.message);
    this.name = "ApiError";
    this.status = status;
    this.code = error.code;
  }
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export class Api {
  /** `baseUrl` "" = this page's origin; `fetchImpl` is injectable for tests. */
  constructor(
    private readonly baseUrl = "",
    private readonly fetchImpl: FetchLike = (input, init) => fetch(input, init),
  ) {}

  /** Send one JSON request; resolve the parsed body on 2xx, else throw ApiError. */
  async request<T>(method: string, path: string, body?: unknown, token?: string): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = `Bearer ${token}`;
    let resp: Response;
    try {
      resp = await this.fetchImpl(this.baseUrl + path, {
        method, headers, body: body === undefined ? null : JSON.stringify(body),
      });
    } catch (err) {
      throw new ApiError(0, { code: "network", message: String(err) });
    }
    const text = await resp.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    if (!resp.ok) {
      const error = (parsed as { error?: ServerError } | null)?.error;
      throw new ApiError(resp.status, error ?? { code: "http", message: `HTTP ${resp.status}` });
    }
    return parsed as T;
  }

  /** `POST /api/auth/guest`: a guest user and its access token (display name 1-40 chars). */
  guest(displayName: string): Promise<GuestSession> {
    return this.request("POST", "/api/auth/guest", { display_name: displayName });
  }

  /** `POST /api/rooms`: a new room owned by the caller. */
  createRoom(token: string, name: string, capacity?: number): Promise<CreatedRoom> {
    const body: Record<string, unknown> = { name };
    if (capacity !== undefined) body.capacity = capacity;
    return this.request("POST", "/api/rooms", body, token);
  }

  /** `POST /api/rooms/join`: the room behind an invite code (case and spaces ignored). */
  roomByInvite(token: string, inviteCode: string): Promise<InvitedRoom> {
    return this.request("POST", "/api/rooms/join", { invite_code: inviteCode }, token);
  }
}

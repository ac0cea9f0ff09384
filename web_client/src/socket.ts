/**
 * The Socket.IO connection (DESIGN.md section 3): WebSocket transport only, the msgpack
 * parser (binary frames travel as msgpack `bin` inside one message), `auth = {token}`.
 * Commands resolve with their ack's payload or reject with AckError; avatar frames go out
 * volatile (dropped, never queued, while disconnected: a stale face is worthless).
 */

import { io, type Socket } from "socket.io-client";
import * as msgpackParser from "socket.io-msgpack-parser";
import { estimateClock, localEpochMs, type ClockEstimate, type SyncSample } from "./clock";
import { toArrayBuffer, type Bytes } from "./frame";
import type { RoomJoinAck, RoomJoinRequest, ServerError, ServerEvents, TimeSyncAck } from "./protocol";

/** A command the server refused (`{ok: false, error}`), or no ack within the timeout
 * (code "timeout"). */
export class AckError extends Error {
  readonly code: string;

  constructor(error: ServerError) {
    super(error.message);
    this.name = "AckError";
    this.code = error.code;
  }
}

/** A refused connect: the server's reason (`{message, data: {code}}`) or a transport
 * failure (code "transport"). */
export class ConnectError extends Error {
  readonly code: string;

  constructor(message: string, code: string) {
    super(message);
    this.name = "ConnectError";
    this.code = code;
  }
}

export interface StudySocketOptions {
  /** Server origin; "" = this page's origin. */
  url?: string;
  /** Returns the current access token (asked again on every reconnect). */
  token: () => string;
  /** Ack timeout of commands, ms. */
  ackTimeoutMs?: number;
}

type Handler<E extends keyof ServerEvents> = (payload: ServerEvents[E]) => void;

export class StudySocket {
  readonly socket: Socket;
  private readonly ackTimeoutMs: number;

  constructor(options: StudySocketOptions) {
    this.ackTimeoutMs = options.ackTimeoutMs ?? 5000;
    this.socket = io(options.url ?? "", {
      transports: ["websocket"],
      parser: msgpackParser,
      autoConnect: false,
      auth: (cb: (data: object) => void) => cb({ token: options.token() }),
    });
  }

  /** Connect; resolves on the first `connect`, rejects with ConnectError on the first
   * `connect_error` (the client keeps retrying a transport failure in the background). */
  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onConnect = (): void => {
        this.socket.off("connect_error", onError);
        resolve();
      };
      const onError = (err: Error & { data?: { code?: string } }): void => {
        this.socket.off("connect", onConnect);
        reject(new ConnectError(err.message, err.data?.code ?? "transport"));
      };
      this.socket.once("connect", onConnect);
      this.socket.once("connect_error", onError);
      this.socket.connect();
    });
  }

  disconnect(): void {
    this.socket.disconnect();
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  /** Listen to a server event; returns a function that removes the listener. */
  on<E extends keyof ServerEvents & string>(event: E, handler: Handler<E>): () => void {
    const name: string = event;
    const listener = handler as (payload: unknown) => void;
    this.socket.on(name, listener);
    return () => {
      this.socket.off(name, listener);
    };
  }

  /** Send a command and resolve its ack without the `ok` field. Rejects with AckError. */
  async call<T>(event: string, payload: object = {}): Promise<T> {
    let ack: { ok?: boolean; error?: ServerError } & Record<string, unknown>;
    try {
      ack = await this.socket.timeout(this.ackTimeoutMs).emitWithAck(event, payload);
    } catch {
      throw new AckError({ code: "timeout", message: `no ${event} ack within ${this.ackTimeoutMs} ms` });
    }
    if (ack?.ok !== true) {
      throw new AckError(ack?.error ?? { code: "internal", message: `bad ${event} ack` });
    }
    const { ok: _ok, ...rest } = ack;
    return rest as T;
  }

  /** Estimate the server clock from `samples` sequential `time_sync` round trips, keeping
   * the one with the smallest round trip. */
  async timeSync(samples = 5): Promise<ClockEstimate> {
    const taken: SyncSample[] = [];
    for (let i = 0; i < samples; i++) {
      const sentMs = localEpochMs();
      const ack = await this.call<TimeSyncAck>("time_sync", { client_ms: sentMs });
      taken.push({ sentMs, receivedMs: localEpochMs(), serverMs: ack.server_ms });
    }
    return estimateClock(taken);
  }

  /** `room_join`: enter a room as a member (default) or spectator. */
  joinRoom(request: RoomJoinRequest): Promise<RoomJoinAck> {
    return this.call<RoomJoinAck>("room_join", request);
  }

  leaveRoom(): Promise<object> {
    return this.call<object>("room_leave");
  }

  /** Send one 72-byte avatar frame, volatile. It goes as an ArrayBuffer of exactly its
   * bytes: the browser's notepack.io encodes ArrayBuffer as msgpack `bin`, a typed array
   * not (DESIGN.md section 3). */
  sendFrame(frame: Bytes): void {
    this.socket.volatile.emit("frame", toArrayBuffer(frame));
  }
}

import { describe, expect, it } from "vitest";
import {
  MAX_SHUTDOWN_RETRY_MS, disconnectIsFinal, isRoomId, shutdownReconnectDelay,
} from "../src/session";

describe("session", () => {
  it("reconnects by hand only after a server_shutdown drain", () => {
    expect(shutdownReconnectDelay("io server disconnect", 420)).toBe(420);
    expect(shutdownReconnectDelay("io server disconnect", 0)).toBe(0);
    expect(shutdownReconnectDelay("io server disconnect", -5)).toBe(0);
    expect(shutdownReconnectDelay("io server disconnect", 1e9)).toBe(MAX_SHUTDOWN_RETRY_MS);
    expect(shutdownReconnectDelay("io server disconnect", Number.NaN)).toBe(0);
    // a takeover (no server_shutdown before it) is final
    expect(shutdownReconnectDelay("io server disconnect", null)).toBeNull();
    // the client retries transport failures itself
    expect(shutdownReconnectDelay("transport close", 300)).toBeNull();
    expect(shutdownReconnectDelay("ping timeout", null)).toBeNull();
  });

  it("stays disconnected after a takeover, whatever the parser calls it", () => {
    expect(disconnectIsFinal("io server disconnect", true)).toBe(true);
    expect(disconnectIsFinal("parse error", true)).toBe(true);
    expect(disconnectIsFinal("transport close", true)).toBe(false);
    expect(disconnectIsFinal("parse error", false)).toBe(false);
    expect(disconnectIsFinal("io server disconnect", false)).toBe(false);
  });

  it("tells room ids from invite codes", () => {
    expect(isRoomId(" 8c1e6f0e-0000-4000-8000-000000000001 ")).toBe(true);
    expect(isRoomId("QRM9NKRD")).toBe(false);
  });
});

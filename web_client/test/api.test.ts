import { describe, expect, it } from "vitest";
import { Api, ApiError, type FetchLike } from "../src/api";
import { isRoomId } from "../src/session";

function fakeFetch(status: number, body: unknown, seen: [string, RequestInit | undefined][]): FetchLike {
  return async (input, init) => {
    seen.push([input, init]);
    return new Response(body === undefined ? null : JSON.stringify(body), { status });
  };
}

describe("Api", () => {
  it("posts JSON with the bearer token and returns the body", async () => {
    const seen: [string, RequestInit | undefined][] = [];
    const api = new Api("http://h", fakeFetch(201, { room_id: "r", invite_code: "ABC" }, seen));
    const room = await api.createRoom("tok", "Deep work", 3);
    expect(room.room_id).toBe("r");
    const [url, init] = seen[0]!;
    expect(url).toBe("http://h/api/rooms");
    expect(init?.method).toBe("POST");
    expect(JSON.parse(String(init?.body))).toEqual({ name: "Deep work", capacity: 3 });
    expect((init?.headers as Record<string, string>).Authorization).toBe("Bearer tok");
  });

  it("turns error bodies into ApiError with the server's code", async () => {
    const api = new Api("", fakeFetch(404, { error: { code: "not_found", message: "no such room" } }, []));
    const err = await api.roomByInvite("tok", "zzz").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 404, code: "not_found", message: "no such room" });
    const plain = new Api("", fakeFetch(502, undefined, []));
    await expect(plain.guest("x")).rejects.toMatchObject({ status: 502, code: "http" });
    const down = new Api("", async () => { throw new TypeError("offline"); });
    await expect(down.guest("x")).rejects.toMatchObject({ status: 0, code: "network" });
  });

  it("tells room ids from invite codes", () => {
    expect(isRoomId(" 0b6f2a4e-8c1d-4e8a-9f3b-2d7c5e1a9b00 ")).toBe(true);
    expect(isRoomId("K7PQ-2XZ")).toBe(false);
  });
});

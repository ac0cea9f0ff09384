/**
 * Hash routes of the single page (the server serves only `/`): `#room=<id>` a room as a
 * member, `#watch=<id>` a live room as a spectator, `#replay=<recording id>` a recording
 * (`&whole=1` the whole room's phase), `#progress`, anything else the lobby. Pure.
 */

export type Route =
  | { page: "lobby" }
  | { page: "room"; roomId: string }
  | { page: "watch"; roomId: string }
  | { page: "replay"; recordingId: string; wholeRoom: boolean }
  | { page: "progress" };

export function parseRoute(hash: string): Route {
  const text = hash.startsWith("#") ? hash.slice(1) : hash;
  if (text === "progress") return { page: "progress" };
  const q = new URLSearchParams(text);
  const room = q.get("room");
  if (room) return { page: "room", roomId: room };
  const watch = q.get("watch");
  if (watch) return { page: "watch", roomId: watch };
  const replay = q.get("replay");
  if (replay) return { page: "replay", recordingId: replay, wholeRoom: q.get("whole") === "1" };
  return { page: "lobby" };
}

export function routeHash(route: Route): string {
  switch (route.page) {
    case "lobby": return "";
    case "progress": return "#progress";
    case "room": return `#room=${encodeURIComponent(route.roomId)}`;
    case "watch": return `#watch=${encodeURIComponent(route.roomId)}`;
    case "replay":
      return `#replay=${encodeURIComponent(route.recordingId)}${route.wholeRoom ? "&whole=1" : ""}`;
  }
}

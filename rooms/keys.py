"""Every Redis key the server uses, built from one configured prefix.

Keys of one room share the ``{room_id}`` hash tag, so a Lua script may touch all of them
on Redis Cluster too. TTLs live here beside the keys they govern.

Key families (all under ``prefix``):

| key | type | owner module | contents |
|---|---|---|---|
| ``room:{<id>}:meta`` | hash | rooms.store | name, capacity, owner_id, invite_code, created_ms |
| ``room:{<id>}:members`` | hash | rooms.store | slot -> member record (JSON) |
| ``room:{<id>}:users`` | hash | rooms.store | user_id -> slot |
| ``room:{<id>}:spectators`` | hash | rooms.store | sid -> spectator record (JSON) |
| ``user:{<id>}:room`` | string | rooms.store | the room the user holds a member slot in |
| ``ghost:{<rec id>}:rooms`` | set | rooms.store | rooms with this recording as a ghost |
| ``room:{<id>}:nodes`` | zset | game_server.frame_bus | node id -> presence expiry ms |
| ``nodes`` | zset | game_server.node_presence | node id -> last heartbeat, epoch ms |
| ``node:{<id>}:alive`` | string | game_server.node_presence | heartbeat (PX node TTL) |
| ``node:{<id>}:rooms`` | set | game_server.node_presence | rooms with its sockets |
| ``node:{<id>}:reaping`` | string | game_server.node_presence | reap claim (PX) |
| ``room:{<id>}:frames`` | channel | game_server.frame_bus | cross-node frame batches |
| ``nodes:control`` | channel | game_server.node_control | cross-node control (logout, room close) |

Game state (owner module rooms.game_store):

- ``room:{<id>}:meta`` fields ``timer``, ``timer_rev``, ``boss``, ``boss_tick``: the timer
  and boss records (JSON), the timer's revision and the last applied tick id.
- ``room:{<id>}:lease`` (string, PX ``LEASE_TTL_MS``): ``node_id:fence`` of the node that
  ticks the room; ``room:{<id>}:fence`` (counter): +1 per lease acquisition.
- ``room:{<id>}:focus`` (hash, PX ``FOCUS_TTL_MS``): ``<k>:<set t0>:<phase>:<user>`` ->
  per focus phase: ``p`` present ms, ``f`` focused ms, ``d`` distracted ms (room ticks);
  ``l`` cognitive-load ms, ``b`` blinks, ``i`` automatic interruptions (added by the
  node holding the member's socket).
- ``timers:due`` (sorted set): room ids scored by their next phase change, epoch ms.

Progress (owner module game_server.awards): ``awards`` (stream, consumer group
``awarders``): awards waiting to be written to Postgres.

The ``timers:due`` set spans rooms, so the scripts touching it with a room's meta hash
assume one Redis (not Cluster) -- the deployment this server targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

LEASE_TTL_MS: Final = 3_000
"""A room's tick lease: renewed every second, so a dead owner is replaced within 3 s."""
GHOST_ROOMS_TTL_MS: Final = 6 * 3_600_000
"""A recording's ghost rooms: a ghost lives at most one focus phase (<= 60 min) plus its
wait for one; refreshed at every ``ghost_add``."""
FOCUS_TTL_MS: Final = 6 * 3_600_000
"""Per-phase focus accounting outlives any set (4 x 60 min focus + breaks) but not forever."""


@dataclass(frozen=True, slots=True)
class RoomKeys:
    """The keys of one room, in the order the Lua scripts take them as KEYS."""

    meta: str
    members: str
    users: str
    spectators: str
    lease: str
    fence: str
    focus: str
    frame_nodes: str
    frames_channel: str  # a pub/sub channel, not a key

    def all(self) -> list[str]:
        """Every key of the room (not its channel)."""
        return [self.meta, self.members, self.users, self.spectators, self.lease, self.fence,
                self.focus, self.frame_nodes]


@dataclass(frozen=True, slots=True)
class KeySpace:
    """Builds keys under ``prefix`` (e.g. ``"sv:"``; tests use a unique one each)."""

    prefix: str

    def room(self, room_id: str) -> RoomKeys:
        base = f"{self.prefix}room:{{{room_id}}}"
        return RoomKeys(f"{base}:meta", f"{base}:members", f"{base}:users",
                        f"{base}:spectators", f"{base}:lease", f"{base}:fence",
                        f"{base}:focus", f"{base}:nodes", f"{base}:frames")

    def user_room(self, user_id: str) -> str:
        """The room a user holds a member slot in: one live session per user. May be stale
        (a slot freed by a sweep); rooms.store checks the room before trusting it."""
        return f"{self.prefix}user:{{{user_id}}}:room"

    def ghost_rooms(self, recording_id: str) -> str:
        """The rooms where a recording is a ghost member (so deleting the recording can
        take it out of each, whichever node adds or replays it). Kept beside the members
        hashes, not in their Lua: another hash tag. May hold stale ids (a room whose ghost
        left without reaching this set); readers treat it as a superset."""
        return f"{self.prefix}ghost:{{{recording_id}}}:rooms"

    def nodes(self) -> str:
        """Every node's last heartbeat (sorted set, epoch ms): where the reaper looks."""
        return f"{self.prefix}nodes"

    def node_alive(self, node_id: str) -> str:
        """A node's heartbeat key; gone = the node is dead."""
        return f"{self.prefix}node:{{{node_id}}}:alive"

    def node_rooms(self, node_id: str) -> str:
        """The rooms where a node holds (or held) sockets: what its reaper visits."""
        return f"{self.prefix}node:{{{node_id}}}:rooms"

    def node_reaping(self, node_id: str) -> str:
        """A claim on reaping a dead node (one reaper at a time)."""
        return f"{self.prefix}node:{{{node_id}}}:reaping"

    def nodes_control(self) -> str:
        """The pub/sub channel every node listens on for cross-node control messages
        (game_server.node_control): a channel, not a key."""
        return f"{self.prefix}nodes:control"

    def awards_stream(self) -> str:
        """The stream of progress awards waiting for Postgres."""
        return f"{self.prefix}awards"

    def timers_due(self) -> str:
        """The sorted set of rooms by next timer phase change (epoch ms)."""
        return f"{self.prefix}timers:due"

    def pattern(self) -> str:
        """A SCAN pattern matching every key of this key space."""
        return f"{self.prefix}*"

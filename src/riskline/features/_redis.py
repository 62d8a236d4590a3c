"""Redis state store: one Lua script per event, so update plus read is one round trip.

Keys (all under ``prefix``): ``wm`` the watermark; ``tx:<id>`` last time an id was seen
(expires after the dedup horizon); a sorted set per sliding entity (score = effective time,
member = the event's payload as JSON); a hash per bucketed entity (field ``<bucket>:<slot>``).
The script applies exactly the rules of the embedded store.
"""

from __future__ import annotations

from typing import Any

import orjson
import redis

from riskline.errors import StoreUnavailableError
from riskline.features.store import Exchange, LabelRequest, Payload, Snapshot

_EXCHANGE = """
local function s(x) return string.format('%.0f', x) end
local ts, lateness, dedup = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local ns, nb = tonumber(ARGV[4]), tonumber(ARGV[5])
local mark = redis.call('GET', KEYS[1])
local eff, late = ts, false
if mark then
  mark = tonumber(mark)
  if mark > ts then eff = mark end
  if mark - ts > lateness then late = true end
end
if (not mark) or eff > mark then redis.call('SET', KEYS[1], s(eff)) end
local seen = redis.call('GET', KEYS[2])
local dup = seen and (eff - tonumber(seen) <= dedup)
redis.call('SET', KEYS[2], s(eff), 'PX', math.floor(dedup / 1000) + 1000)
local counted = not (late or dup)
local out = {s(eff), counted and 1 or 0}
local a = 6
for i = 1, ns do
  local key, h, member = KEYS[2 + i], tonumber(ARGV[a]), ARGV[a + 1]
  a = a + 2
  local lo = eff - h
  out[#out + 1] = redis.call('ZRANGEBYSCORE', key, s(lo), '(' .. s(eff), 'WITHSCORES')
  if counted then redis.call('ZADD', key, s(eff), member) end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. s(lo))
  redis.call('PEXPIRE', key, math.floor(h / 1000) + 60000)
end
for i = 1, nb do
  local key = KEYS[2 + ns + i]
  local size, span, slots = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local current = math.floor(eff / size)
  local fields = {}
  for b = current - span, current - 1 do
    for j = 0, slots - 1 do fields[#fields + 1] = s(b) .. ':' .. j end
  end
  local values = redis.call('HMGET', key, unpack(fields))
  local sums = {}
  for j = 1, slots do sums[j] = 0 end
  for k, v in ipairs(values) do
    if v then
      local j = (k - 1) % slots + 1
      sums[j] = sums[j] + tonumber(v)
    end
  end
  local strs = {}
  for j = 1, slots do strs[j] = s(sums[j]) end
  out[#out + 1] = strs
  if counted then
    for j = 0, slots - 1 do
      local inc = tonumber(ARGV[a + 3 + j])
      if inc ~= 0 then redis.call('HINCRBY', key, s(current) .. ':' .. j, inc) end
    end
  end
  for j = 0, slots - 1 do redis.call('HDEL', key, s(current - span - 1) .. ':' .. j) end
  redis.call('PEXPIRE', key, math.floor(size * (span + 2) / 1000))
  a = a + 3 + slots
end
return out
"""


class RedisStore:
    """Online feature state in Redis (production); same semantics as ``EmbeddedStore``."""

    def __init__(self, url: str, *, prefix: str = "riskline") -> None:
        self._url = url
        self._prefix = prefix
        self._client: redis.Redis | None = None
        self._script: Any = None

    def open(self) -> RedisStore:
        self._client = redis.Redis.from_url(
            self._url, socket_timeout=1.0, socket_connect_timeout=1.0
        )
        self._script = self._client.register_script(_EXCHANGE)
        return self

    def _key(self, name: str) -> str:
        return f"{self._prefix}:{name}"

    def exchange(self, request: Exchange) -> Snapshot:
        keys = [self._key("wm"), self._key(f"tx:{request.transaction_id}")]
        args: list[str | int] = [
            request.ts_us,
            request.lateness_us,
            request.dedup_us,
            len(request.sliding),
            len(request.buckets),
        ]
        for sr in request.sliding:
            keys.append(self._key(sr.key))
            args += [sr.horizon_us, orjson.dumps([request.transaction_id, *sr.payload]).decode()]
        for b in request.buckets:
            keys.append(self._key(b.key))
            args += [b.bucket_us, b.span, len(b.increments), *b.increments]
        try:
            reply = self._script(keys=keys, args=args)
        except redis.RedisError as exc:
            raise StoreUnavailableError(f"Redis at {self._url!r} failed: {exc}") from exc
        ns = len(request.sliding)
        windows = tuple(_window(raw) for raw in reply[2 : 2 + ns])
        counters = tuple([int(v) for v in raw] for raw in reply[2 + ns :])
        return Snapshot(int(reply[0]), reply[1] == 1, windows, counters)

    def add_labels(self, labels: tuple[LabelRequest, ...]) -> None:
        if self._client is None:
            raise StoreUnavailableError("RedisStore is not open; call open() first.")
        try:
            with self._client.pipeline(transaction=False) as pipe:
                for lb in labels:
                    key = self._key(lb.key)
                    pipe.hincrby(key, f"{lb.bucket}:{lb.slot}", 1)
                    pipe.pexpire(key, lb.bucket_us * (lb.span + 2) // 1000)
                pipe.execute()
        except redis.RedisError as exc:
            raise StoreUnavailableError(f"Redis at {self._url!r} failed: {exc}") from exc

    def ping(self) -> bool:
        try:
            return self._client is not None and bool(self._client.ping())
        except redis.RedisError:
            return False

    def clear(self) -> int:
        """Delete every key under this store's prefix (tests, re-backfills); returns the count."""
        if self._client is None:
            return 0
        keys = list(self._client.scan_iter(match=f"{self._prefix}:*", count=1000))
        for start in range(0, len(keys), 1000):
            self._client.delete(*keys[start : start + 1000])
        return len(keys)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _window(raw: list[bytes]) -> tuple[list[int], list[Payload]]:
    effs: list[int] = []
    payloads: list[Payload] = []
    for i in range(0, len(raw), 2):
        effs.append(int(float(raw[i + 1])))
        payloads.append(tuple(orjson.loads(raw[i])[1:]))
    return effs, payloads

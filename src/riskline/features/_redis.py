"""Redis state store: one Lua script per event, so update plus read is one round trip.

Keys (all under ``prefix``): ``wm`` the watermark; ``tx:<id>`` last time an id was seen
(expires after the dedup horizon), ``lb:<label id>`` when an event's label was counted (likewise); a
sorted set per sliding entity (score = effective time, member = ``["<id>@<effective time>",
*payload]`` as JSON: an id counted again once its dedup horizon has passed is a second
member, not the first one moved); a hash per bucketed entity (field ``<bucket>:<slot>``).
The script applies exactly the rules of the embedded store.
"""

from __future__ import annotations

from typing import Any

import orjson
import redis

from riskline.errors import StoreUnavailableError
from riskline.features.store import Exchange, Labelling, Payload, Snapshot

_BUCKETS = """
local function s(x) return string.format('%.0f', x) end
-- Bucketed windows keep running totals t:<slot> of buckets [c - span, c) and move them
-- forward bucket by bucket, so an event costs O(slots), not O(span * slots).
local function bucket(key, b, slots)
  local fields = {}
  for j = 0, slots - 1 do fields[j + 1] = s(b) .. ':' .. j end
  return redis.call('HMGET', key, unpack(fields))
end
local function total_fields(slots)
  local f = {}
  for j = 0, slots - 1 do f[j + 1] = 't:' .. j end
  return f
end
local function window_totals(key, current, span, slots)
  local c = redis.call('HGET', key, 'c')
  local tot = {}
  if c then
    c = tonumber(c)
    local stored = redis.call('HMGET', key, unpack(total_fields(slots)))
    for j = 1, slots do tot[j] = tonumber(stored[j] or '0') end
  end
  if (not c) or current - c > 2 * span then
    for j = 1, slots do tot[j] = 0 end
    for b = current - span, current - 1 do
      for j, v in ipairs(bucket(key, b, slots)) do
        if v then tot[j] = tot[j] + tonumber(v) end
      end
    end
  elseif current > c then
    for b = c, current - 1 do
      if b >= current - span then
        for j, v in ipairs(bucket(key, b, slots)) do
          if v then tot[j] = tot[j] + tonumber(v) end
        end
      end
    end
    for b = c - span, math.min(current - span, c) - 1 do
      for j, v in ipairs(bucket(key, b, slots)) do
        if v then tot[j] = tot[j] - tonumber(v) end
      end
      local gone = {}
      for j = 0, slots - 1 do gone[j + 1] = s(b) .. ':' .. j end
      redis.call('HDEL', key, unpack(gone))
    end
  end
  if (not c) or current ~= c then
    local set = {'c', s(current)}
    for j = 1, slots do set[#set + 1] = 't:' .. (j - 1); set[#set + 1] = s(tot[j]) end
    redis.call('HSET', key, unpack(set))
  end
  return tot
end
"""

_EXCHANGE = (
    _BUCKETS
    + """
-- ARGV[1]: JSON [ts, lateness, dedup, [[horizon, payload], ...], [[size, span, [inc...]], ...],
-- id], each payload a JSON array without its "[" (the member is "[<tag>," .. payload)
local req = cjson.decode(ARGV[1])
local ts, lateness, dedup = req[1], req[2], req[3]
local sliding, buckets = req[4], req[5]
local ns, nb = #sliding, #buckets
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
local tag = '[' .. cjson.encode(req[6] .. '@' .. s(eff))
for i = 1, ns do
  local key, h, payload = KEYS[2 + i], sliding[i][1], sliding[i][2]
  local lo = eff - h
  out[#out + 1] = redis.call('ZRANGEBYSCORE', key, s(lo), '(' .. s(eff), 'WITHSCORES')
  if counted then
    redis.call('ZADD', key, s(eff), tag .. (payload == ']' and '' or ',') .. payload)
  end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. s(lo))
  redis.call('PEXPIRE', key, math.floor(h / 1000) + 60000)
end
for i = 1, nb do
  local key = KEYS[2 + ns + i]
  local size, span, incs = buckets[i][1], buckets[i][2], buckets[i][3]
  local slots = #incs
  local current = math.floor(eff / size)
  local tot = window_totals(key, current, span, slots)
  local strs = {}
  for j = 1, slots do strs[j] = s(tot[j]) end
  out[#out + 1] = strs
  if counted then
    for j = 0, slots - 1 do
      local inc = incs[j + 1]
      if inc ~= 0 then redis.call('HINCRBY', key, s(current) .. ':' .. j, inc) end
    end
  end
  redis.call('PEXPIRE', key, math.floor(size * (span + 2) / 1000))
end
return out
"""
)


_LABELS = (
    _BUCKETS
    + """
-- KEYS: lb:<id>, then one per label. ARGV: at, dedup, n, then per label: bucket_us, span,
-- bucket, slot. A transaction's label counts once within the dedup horizon.
local at, dedup = tonumber(ARGV[1]), tonumber(ARGV[2])
local seen = redis.call('GET', KEYS[1])
if seen and at - tonumber(seen) <= dedup then return 0 end
redis.call('SET', KEYS[1], s(at), 'PX', math.floor(dedup / 1000) + 1000)
local n, a = tonumber(ARGV[3]), 4
for i = 1, n do
  local key = KEYS[i + 1]
  local size, span = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  local b, slot = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  redis.call('HINCRBY', key, s(b) .. ':' .. slot, 1)
  local c = redis.call('HGET', key, 'c')
  if c and tonumber(c) - span <= b and b < tonumber(c) then
    redis.call('HINCRBY', key, 't:' .. slot, 1)
  end
  redis.call('PEXPIRE', key, math.floor(size * (span + 2) / 1000))
  a = a + 4
end
return 1
"""
)


class RedisStore:
    """Online feature state in Redis (production); same semantics as ``EmbeddedStore``."""

    def __init__(self, url: str, *, prefix: str = "riskline") -> None:
        self._url = url
        self._prefix = prefix
        self._client: redis.Redis | None = None
        self._script: Any = None
        self._labels: Any = None

    def open(self) -> RedisStore:
        self._client = redis.Redis.from_url(
            self._url, socket_timeout=1.0, socket_connect_timeout=1.0
        )
        self._script = self._client.register_script(_EXCHANGE)
        self._labels = self._client.register_script(_LABELS)
        return self

    def _key(self, name: str) -> str:
        return f"{self._prefix}:{name}"

    def exchange(self, request: Exchange) -> Snapshot:
        keys = [self._key("wm"), self._key(f"tx:{request.transaction_id}")]
        sliding = []
        for sr in request.sliding:
            keys.append(self._key(sr.key))
            sliding.append([sr.horizon_us, orjson.dumps(list(sr.payload))[1:].decode()])
        buckets = []
        for b in request.buckets:
            keys.append(self._key(b.key))
            buckets.append([b.bucket_us, b.span, b.increments])
        body = orjson.dumps(
            [
                request.ts_us,
                request.lateness_us,
                request.dedup_us,
                sliding,
                buckets,
                request.transaction_id,
            ]
        )
        try:
            reply = self._script(keys=keys, args=[body])
        except redis.RedisError as exc:
            raise StoreUnavailableError(f"Redis at {self._url!r} failed: {exc}") from exc
        ns = len(request.sliding)
        windows = tuple(_window(raw) for raw in reply[2 : 2 + ns])
        counters = tuple([int(v) for v in raw] for raw in reply[2 + ns :])
        return Snapshot(int(reply[0]), reply[1] == 1, windows, counters)

    def add_labels(self, labelling: Labelling) -> bool:
        if self._labels is None:
            raise StoreUnavailableError("RedisStore is not open; call open() first.")
        labels = labelling.requests
        args: list[int] = [labelling.at_us, labelling.dedup_us, len(labels)]
        for lb in labels:
            args += [lb.bucket_us, lb.span, lb.bucket, lb.slot]
        keys = [self._key(f"lb:{labelling.label_id}")]
        keys += [self._key(lb.key) for lb in labels]
        try:
            return bool(self._labels(keys=keys, args=args))
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

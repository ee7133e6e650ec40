-- Applies one change to a vehicle's state and keeps the search sets in step,
-- atomically: a search never sees a vehicle indexed under a stale rule.
--
-- KEYS[1] vehicle hash, KEYS[2] GEO set of every known position,
-- KEYS[3] GEO set of every available vehicle,
-- KEYS[4..7] GEO sets of available vehicles by type: escooter, ebike, car, van.
-- Members of the available sets are
-- "id|type|lat|lon|battery|range|reported s|city|zone": a search reads all it
-- returns from the names alone (no WITHCOORD/WITHDIST for Redis to format,
-- no second lookup). The member in use is kept in the vehicle hash ('gm',
-- in type set 'gt').
-- ARGV[1] vehicle id, ARGV[2] operation, ARGV[3..] its arguments.
--
-- Returns 0 when the change was stale (older than what is stored) and not
-- applied, 1 when applied and the vehicle is unavailable, 2 when available.
local v, all, any = KEYS[1], KEYS[2], KEYS[3]
local geo = {escooter = KEYS[4], ebike = KEYS[5], car = KEYS[6], van = KEYS[7]}
local id, op = ARGV[1], ARGV[2]

local function num(field)
  return tonumber(redis.call('HGET', v, field) or '-1')
end

if op == 'tel' then
  -- ts, lon, lat, battery, range, locked, plugged, reported type, area, city, zone
  local ts = tonumber(ARGV[3])
  if ts <= num('ts') then
    return 0
  end
  redis.call('HSET', v, 'ts', ARGV[3], 'lon', ARGV[4], 'lat', ARGV[5], 'bat', ARGV[6], 'rng', ARGV[7],
    'lck', ARGV[8], 'plg', ARGV[9], 'tt', ARGV[10], 'area', ARGV[11], 'city', ARGV[12], 'zone', ARGV[13])
  -- A report newer than the last status change shows the vehicle is online.
  if ts > num('onts') then
    redis.call('HSET', v, 'on', '1', 'onts', ARGV[3])
  end
  redis.call('GEOADD', all, ARGV[4], ARGV[5], id)
elseif op == 'status' then
  -- online (0/1), changed at
  if tonumber(ARGV[4]) < num('onts') then
    return 0
  end
  redis.call('HSET', v, 'on', ARGV[3], 'onts', ARGV[4])
elseif op == 'held' or op == 'mnt' then
  redis.call('HSET', v, op, ARGV[3])
elseif op == 'reg' then
  -- type, state, updated at
  if tonumber(ARGV[5]) < num('regts') then
    return 0
  end
  local state = ARGV[4]
  redis.call('HSET', v, 'rt', ARGV[3], 'reg', '1', 'regts', ARGV[5],
    'ret', state == 'retired' and '1' or '0', 'mnt', state == 'maintenance' and '1' or '0')
elseif op == 'unreg' then
  redis.call('HSET', v, 'reg', '0')
elseif op == 'area' then
  -- expected ts, area, city, zone: applied only to the position it was computed for
  if redis.call('HGET', v, 'ts') ~= ARGV[3] then
    return 0
  end
  redis.call('HSET', v, 'area', ARGV[4], 'city', ARGV[5], 'zone', ARGV[6])
else
  return redis.error_reply('unknown operation ' .. op)
end

local f = redis.call('HMGET', v, 'rt', 'tt', 'reg', 'ret', 'mnt', 'held', 'on', 'area',
  'lon', 'lat', 'bat', 'rng', 'ts', 'city', 'zone', 'gt', 'gm')
local typ = f[1]
if not typ or typ == '' then
  typ = f[2]
end
local ok = f[3] == '1' and f[4] ~= '1' and f[5] ~= '1' and f[6] ~= '1' and f[7] == '1' and f[8] == '1'
  and f[9] and typ and geo[typ]
local gt, gm = f[16], f[17]
if ok then
  local member = table.concat({id, typ, string.format('%.6f', tonumber(f[10])), string.format('%.6f', tonumber(f[9])),
    f[11], f[12], string.format('%d', math.floor(tonumber(f[13]) / 1000)), f[14] or '', f[15] or ''}, '|')
  -- The type is part of the member: a changed member covers a changed type.
  if gm and gm ~= member then
    if gt and geo[gt] then
      redis.call('ZREM', geo[gt], gm)
    end
    redis.call('ZREM', any, gm)
  end
  redis.call('GEOADD', geo[typ], f[9], f[10], member)
  redis.call('GEOADD', any, f[9], f[10], member)
  if gt ~= typ or gm ~= member then
    redis.call('HSET', v, 'gt', typ, 'gm', member)
  end
  return 2
end
if gt then
  if gm then
    if geo[gt] then
      redis.call('ZREM', geo[gt], gm)
    end
    redis.call('ZREM', any, gm)
  end
  redis.call('HDEL', v, 'gt', 'gm')
end
return 1

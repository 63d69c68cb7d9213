-- Keeps a loaded mirror in step with PostgreSQL after a sale, release, expiry, restock or failed record.
-- KEYS[1]: mirror hash; ARGV[1]: delta of on_hand; ARGV[2]: delta of reserved. An unloaded mirror is left
-- alone: it will be loaded from PostgreSQL, which already has the change.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HINCRBY', KEYS[1], 'on_hand', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'reserved', ARGV[2])
return 1

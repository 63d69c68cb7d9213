-- The redis strategy's whole decision, atomic because Redis runs one script at a time.
-- KEYS[1]: the stock mirror hash of one SKU in one warehouse; ARGV[1]: quantity.
-- Returns 1 granted, 0 not enough, -1 mirror not loaded (the caller loads it from PostgreSQL and retries).
local on_hand = redis.call('HGET', KEYS[1], 'on_hand')
if not on_hand then
  return -1
end
local reserved = tonumber(redis.call('HGET', KEYS[1], 'reserved'))
local qty = tonumber(ARGV[1])
if tonumber(on_hand) - reserved < qty then
  return 0
end
redis.call('HINCRBY', KEYS[1], 'reserved', qty)
return 1

-- wrk script for the pipelined scenarios (benches/compare.sh,
-- benches/syscalls.sh): 16 requests per write, as in wrk's own example.
init = function(args)
  local r = {}
  for i = 1, 16 do r[i] = wrk.format(nil, "/") end
  req = table.concat(r)
end
request = function() return req end

-- wrk script: each thread stops after N responses (default 100,000), so `strace -c` counts
-- the system calls of a fixed number of requests:
--   wrk -t1 -c50 -d20s -s httperf/focus/stop.lua URL -- 50000
local n = 0
local limit = 100000
init = function(args) limit = tonumber(args[1]) or limit end
response = function(status, headers, body)
    n = n + 1
    if n >= limit then wrk.thread:stop() end
end

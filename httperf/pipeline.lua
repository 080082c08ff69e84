-- wrk script for httperf/run, in the style of TechEmpower's plaintext test.
--
--   wrk -t1 -c50 -d4s -s httperf/pipeline.lua http://127.0.0.1:8080/bench/1k.bin -- 16
--
-- With a depth N > 1 (the argument after `--`), every write carries N copies of the GET
-- request back to back, so a server that reads a whole batch can answer it with one write:
-- pipelining. wrk counts each of the N responses. With no argument (or 1) the script leaves
-- wrk's request path alone (plain keep-alive, one request in flight per connection).
-- Either way it prints one machine-readable HARNESS line at the end for httperf/run to parse.

init = function(args)
    local depth = tonumber(args[1]) or 1
    if depth > 1 then
        local batch = {}
        for i = 1, depth do
            batch[i] = wrk.format()
        end
        local req = table.concat(batch)
        -- Defining `request` here (after wrk has seen the script) still counts: wrk checks
        -- for it after init, and counts the requests inside the returned string.
        request = function()
            return req
        end
    end
end

done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "HARNESS requests=%d bytes=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d mean_us=%.1f p50_us=%d p99_us=%d\n",
        summary.requests, summary.bytes, summary.duration,
        e.connect, e.read, e.write, e.status, e.timeout,
        latency.mean, latency:percentile(50), latency:percentile(99)))
end

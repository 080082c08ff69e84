-- wrk script: pipelining in the style of TechEmpower's plaintext test.
--   wrk -t1 -c50 -d8s -s pipeline.lua http://127.0.0.1:8080/notes.txt -- 16
-- Every write carries DEPTH copies of the request back to back; wrk counts every response.
init = function(args)
    local depth = tonumber(args[1]) or 1
    local batch = {}
    for i = 1, depth do
        batch[i] = wrk.format()
    end
    req = table.concat(batch)
end

request = function()
    return req
end

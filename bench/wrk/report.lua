-- Appended to every workload script: counts every non-2xx answer (wrk itself counts only
-- >= 400) and prints one machine-readable line for bench/peer_compare.py.
local threads = {}
non2xx = 0

function setup(thread)
  threads[#threads + 1] = thread
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if non2xx == 1 then
      io.stderr:write("first non-2xx answer: " .. status .. " " .. string.sub(body, 1, 300) .. "\n")
    end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local bad = 0
  for _, thread in ipairs(threads) do
    bad = bad + (thread:get("non2xx") or 0)
  end
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"non2xx":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,' ..
    '"p9999_us":%d,"max_us":%d,"mean_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, bad, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency:percentile(99.99), latency.max, latency.mean))
end

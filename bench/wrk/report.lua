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

-- The percentiles of an HdrHistogram percentile distribution: each step halves what is
-- left above (50, 75, 87.5, ...), two more per halving beyond 90, up to 99.999 and the max.
local function spectrum(latency)
  local points = {}
  local left = 100.0
  while left > 0.001 do
    for _, part in ipairs({0.0, 0.5}) do
      local p = 100.0 - left * (1.0 - part * 0.5)
      if p < 99.999 then
        points[#points + 1] = string.format("[%.6f,%d]", p, latency:percentile(p))
      end
    end
    left = left / 2
  end
  points[#points + 1] = string.format("[%.6f,%d]", 99.999, latency:percentile(99.999))
  points[#points + 1] = string.format("[100,%d]", latency.max)
  return "[" .. table.concat(points, ",") .. "]"
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
    '"p9999_us":%d,"max_us":%d,"mean_us":%d,"stdev_us":%d,"spectrum_us":%s}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, bad, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency:percentile(99.99), latency.max, latency.mean,
    latency.stdev, spectrum(latency)))
end

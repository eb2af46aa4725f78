-- The request mix of bench/bench_load.py: overview, asset page, HTMX timeframe swap, the 1y map data
-- as the asset page's script reads it.
local paths = {
  {"/", false},
  {"/assets/BTCUSDT/?tf=24h", false},
  {"/assets/ETHUSDT/?tf=1w", true},
  {"/assets/BTCUSDT/?tf=3d", true},
  {"/api/v1/assets/BTCUSDT/heatmap/?timeframe=1y&side=both&cells=packed", false},
}
local counter = 0

request = function()
  counter = counter + 1
  local entry = paths[(counter % #paths) + 1]
  local headers = {["Accept-Encoding"] = "gzip"}
  if entry[2] then headers["HX-Request"] = "true" end
  return wrk.format("GET", entry[1], headers)
end

done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format("RESULT requests=%d duration_us=%d p50_us=%d p95_us=%d p99_us=%d max_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.max, errors.status, errors.connect, errors.read, errors.write, errors.timeout))
end

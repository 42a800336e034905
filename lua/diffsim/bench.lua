-- Benchmark helpers shared by scripts/bench/*.lua: timing of recorded
-- iterations (forward = record, backward = tape:backward), medians, and the
-- one-line-per-case output format.
--   local bench = require("diffsim.bench")(ds)
--   local fwd_ms, bwd_ms, peak_mb = bench.time_iter(params, fwd, {reps = 10, after = step_fn})
--   bench.case("robot_d", {forward_ms = fwd_ms, backward_ms = bwd_ms, peak_mb = peak_mb, steps = 682})
return function(ds)
  local M = {}

  function M.median(t)
    local s = {}
    for i, v in ipairs(t) do s[i] = v end
    table.sort(s)
    return s[math.floor((#s + 1) / 2)]
  end

  function M.mb(bytes) return bytes / 2^20 end

  -- Times opts.reps (default 10) iterations of record(fwd, tape) + backward,
  -- after two warm-up iterations. Each iteration starts from zeroed grads and a
  -- collected heap, so the peak is one iteration's own. opts.after(loss), if
  -- given, runs after each backward (an optimizer step, say) outside the timing.
  -- Returns the median forward ms, median backward ms and the largest peak MB.
  function M.time_iter(params, fwd, opts)
    opts = opts or {}
    local reps = opts.reps or 10
    local tape = ds.tape()
    local tf, tb, peak = {}, {}, 0
    for r = 1, reps + 2 do
      for _, p in ipairs(params) do p:zero_grad() end
      collectgarbage("collect")
      ds.reset_peak_memory()
      local t0 = ds.now()
      local loss = tape:record(fwd, tape)
      local t1 = ds.now()
      tape:backward(loss)
      local t2 = ds.now()
      if opts.after then opts.after(loss) end
      if r > 2 then
        tf[#tf + 1], tb[#tb + 1] = (t1 - t0) * 1e3, (t2 - t1) * 1e3
        peak = math.max(peak, ds.memory().peak)
      end
    end
    return M.median(tf), M.median(tb), M.mb(peak)
  end

  -- Median wall-clock ms of fn() over reps calls (after one warm-up call).
  function M.time(fn, reps)
    reps = reps or 10
    fn()
    local ts = {}
    for i = 1, reps do
      local t0 = ds.now()
      fn()
      ts[i] = (ds.now() - t0) * 1e3
    end
    return M.median(ts)
  end

  -- Prints "case <name> key value ..." with the keys in the given order
  -- (fields is a list of {key, value} pairs or a table with an `order` list).
  function M.case(name, fields, order)
    local parts = {"case", name}
    local keys = order
    if not keys then
      keys = {}
      for k in pairs(fields) do keys[#keys + 1] = k end
      table.sort(keys)
    end
    for _, k in ipairs(keys) do
      local v = fields[k]
      parts[#parts + 1] = k
      parts[#parts + 1] = type(v) == "number" and string.format("%.4g", v) or tostring(v)
    end
    print(table.concat(parts, " "))
    io.stdout:flush()
  end

  return M
end

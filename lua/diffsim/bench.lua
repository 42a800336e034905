-- Benchmark helpers shared by scripts/bench/*.lua: timing of recorded
-- iterations (forward = record, backward = tape:backward), medians, and the
-- one-line-per-case output format.
--   local bench = require("diffsim.bench")(ds)
--   local fwd_ms, bwd_ms, peak_mb = bench.time_iter(params, fwd, {reps = 10, after = step_fn})
--   bench.case("robot_d", {forward_ms = fwd_ms, backward_ms = bwd_ms, peak_mb = peak_mb, steps = 682})
return function(ds)
  local O = require("diffsim.options").install(ds)
  local M = {}

  function M.median(t)
    if type(t) ~= "table" or #t == 0 then
      O.raise("ds.bench.median: argument 't' must be a non-empty list of numbers, got " ..
        (type(t) == "table" and "an empty list" or O.describe(t)))
    end
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
  -- Returns the median forward ms, median backward ms, the largest peak MB and
  -- the fastest iteration's total ms (on a shared machine a median can include
  -- waits for a core another process holds).
  function M.time_iter(params, fwd, opts)
    local who = "ds.bench.time_iter"
    if type(params) ~= "table" or getmetatable(params) ~= nil then
      O.raise(who .. ": argument 'params' must be a list of tensors, got " .. O.describe(params))
    end
    for i, p in ipairs(params) do
      if not ds.is_tensor(p) then O.raise(string.format("%s: params[%d] is not a tensor (got %s)", who, i, O.describe(p))) end
    end
    O.func(who, "fwd", fwd)
    opts = O.check(who, opts, {"reps", "after"})
    local reps = O.number(who, "reps", opts.reps, 10, {int = true, ge = 1})
    O.func(who, "after", opts.after, true)
    local tape = ds.tape()
    local tf, tb, peak, fastest = {}, {}, 0, math.huge
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
        fastest = math.min(fastest, (t2 - t0) * 1e3)
      end
    end
    return M.median(tf), M.median(tb), M.mb(peak), fastest
  end

  -- Median wall-clock ms of fn() over reps calls (after one warm-up call).
  function M.time(fn, reps)
    O.func("ds.bench.time", "fn", fn)
    reps = O.number("ds.bench.time", "reps", reps, 10, {int = true, ge = 1, arg = true})
    fn()
    local ts = {}
    for i = 1, reps do
      local t0 = ds.now()
      fn()
      ts[i] = (ds.now() - t0) * 1e3
    end
    return M.median(ts)
  end

  -- The machine's memory bandwidth in GB/s (read + write bytes): the best of
  -- reps copies of n reals into an existing tensor, larger than any cache.
  function M.copy_gbps(n, reps)
    O.number("ds.bench.copy_gbps", "n", n, nil, {int = true, ge = 1, arg = true})
    O.number("ds.bench.copy_gbps", "reps", reps, 5, {int = true, ge = 1, arg = true})
    local src, dst = ds.ones{n}, ds.zeros{n}
    dst:copy_(src) -- touch every page first
    local best = math.huge
    for _ = 1, reps or 5 do
      local t0 = ds.now()
      dst:copy_(src)
      best = math.min(best, ds.now() - t0)
    end
    local bytes = 2 * n * (ds.precision == "f64" and 8 or 4)
    src:free()
    dst:free()
    return bytes / best / 1e9
  end

  -- Prints "case <name> key value ..." with the keys in the given order
  -- (fields is a list of {key, value} pairs or a table with an `order` list).
  function M.case(name, fields, order)
    if type(name) ~= "string" then O.raise("ds.bench.case: argument 'name' must be a string, got " .. O.describe(name)) end
    if type(fields) ~= "table" then
      O.raise("ds.bench.case: argument 'fields' must be a table, got " .. O.describe(fields))
    end
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

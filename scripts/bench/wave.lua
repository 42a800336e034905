-- Benchmark of the wave plugin (and the refraction renderer).
--
--   diffsim scripts/bench/wave.lua [--threads T] [--precision f32|f64] [--reps R] [--big 1024]
--
-- One line per case: forward ms (no tape), forward ms while recording, backward
-- ms, peak memory of forward + backward without and with checkpointing
-- (segments of sqrt(steps) updates), and the achieved memory bandwidth of the
-- step kernel against the machine's, measured here with a large copy.
--
-- Bytes per cell and update, counted as the kernels must move them once:
--   forward  u_prev, u read + u_next written         = 3 reals
--   backward g read, g_prev and g_u read and written  = 5 reals
--            (+1 write: each grad is zero-filled when the tape allocates it)
-- Timings are wall-clock on a shared machine: take the best of --reps runs.
-- Caches: a tape-free rollout reuses a few levels and can live in the last-level
-- cache, so its GB/s may beat the DRAM copy; a recorded rollout writes a new
-- level every update (4 MB per level at 1024^2 in f32, 1 GB for 256 levels), which is
-- the fair comparison with the copy bandwidth.
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {name = "bench_wave", script = "scripts/bench/wave.lua", iters = 0,
  out = "out/bench_wave", flags = {reps = 3, big = 1024, steps = 256, copy_mb = 512},
  checks = {reps = {help = "timed repetitions per case (the best is reported)"},
            big = {help = "grid size n x n of the large case, in cells"}, steps = {help = "wave states per rollout"},
            copy_mb = {help = "buffer size of the copy-bandwidth probe, in MiB"}}})
local wave = ds.plugin("wave")
local render = ds.plugin("render")
local now = ds.now
local real = ds.precision == "f64" and 8 or 4
local MB = 2 ^ 20

local function best(reps, fn)
  local b = math.huge
  for _ = 1, reps do
    collectgarbage("collect")
    local t0 = now()
    fn()
    b = math.min(b, now() - t0)
  end
  return b
end

-- The machine: a big copy (larger than any cache), read + write bytes counted.
local function machine_bandwidth()
  local n = math.floor(opt.copy_mb * MB / real)
  local memcpy = ds.bench.copy_gbps(n, opt.reps) -- memcpy, one thread
  local src = ds.rand({n}, 1)
  local t2 = best(opt.reps, function() ds.no_grad(ds.copy, src) end) -- core.copy kernel on the pool
  src:free()
  collectgarbage("collect")
  ds.trim_memory()
  return memcpy, 2 * n * real / t2 / 1e9
end

local function case(n)
  local steps = opt.steps
  local updates = steps - 2
  local p = wave.params{n = n}
  local target = ds.randn({n, n}, 2, 0.1)
  local u0 = ds.randn({n, n}, 1, 0.01)

  local fwd = best(opt.reps, function()
    ds.no_grad(function() return wave.rollout(u0, p, {steps = steps}) end)
  end)

  local function run(seg)
    local x = u0:detach():requires_grad()
    collectgarbage("collect")
    ds.reset_peak_memory()
    local base = ds.memory().live
    local tape = ds.tape()
    local t0 = now()
    local loss = tape:record(function()
      return wave.l2_loss(wave.rollout(x, p, {steps = steps, tape = tape, checkpoint = seg}), target, p.dx)
    end)
    local t1 = now()
    tape:backward(loss)
    local t2 = now()
    local peak = ds.memory().peak - base
    tape:free()
    return t1 - t0, t2 - t1, peak
  end
  local rec, bwd, peak = math.huge, math.huge, 0
  for _ = 1, opt.reps do
    local a, b, c = run(nil)
    rec, bwd, peak = math.min(rec, a), math.min(bwd, b), math.max(peak, c)
  end
  local seg = math.floor(math.sqrt(updates) + 0.5)
  local crec, cbwd, cpeak = math.huge, math.huge, 0
  for _ = 1, opt.reps do
    local a, b, c = run(seg)
    crec, cbwd, cpeak = math.min(crec, a), math.min(cbwd, b), math.max(cpeak, c)
  end
  collectgarbage("collect")
  ds.trim_memory()

  local cells = n * n * updates
  local gbf = 3 * real * cells / fwd / 1e9
  local gbb = 6 * real * cells / bwd / 1e9
  local gbt = 3 * real * cells / rec / 1e9 -- recording: every level is new memory, so this streams to DRAM
  local name = string.format("wave_%dx%dx%d", n, n, updates)
  print(string.format("%-20s fwd %8.2f ms  fwd+tape %8.2f ms  bwd %8.2f ms  peak %7.1f MB | checkpoint(%d): fwd %8.2f ms  bwd %8.2f ms  peak %7.1f MB | %6.2f ns/cell-update  fwd %5.1f GB/s  fwd+tape %5.1f GB/s  bwd %5.1f GB/s",
    name, 1000 * fwd, 1000 * rec, 1000 * bwd, peak / MB, seg, 1000 * crec, 1000 * cbwd, cpeak / MB,
    1e9 * fwd / cells, gbf, gbt, gbb))
  cli.result(name .. "_fwd_ms", 1000 * fwd)
  cli.result(name .. "_fwd_tape_ms", 1000 * rec)
  cli.result(name .. "_bwd_ms", 1000 * bwd)
  cli.result(name .. "_peak_mb", peak / MB)
  cli.result(name .. "_ckpt_fwd_ms", 1000 * crec)
  cli.result(name .. "_ckpt_bwd_ms", 1000 * cbwd)
  cli.result(name .. "_ckpt_peak_mb", cpeak / MB)
  cli.result(name .. "_fwd_gbps", gbf)
  cli.result(name .. "_fwd_tape_gbps", gbt)
  cli.result(name .. "_bwd_gbps", gbb)
  return gbf, gbt, gbb
end

local function render_case(n)
  local p = wave.params{n = n}
  local h = ds.randn({n, n}, 3, 1e-3)
  local img = ds.rand({n, n, 3}, 4)
  local fwd = best(opt.reps, function() ds.no_grad(render.refract, h, img, {dx = p.dx}) end)
  local bwd = best(opt.reps, function()
    local x = h:detach():requires_grad()
    local im = img:detach():requires_grad()
    local tape = ds.tape()
    local loss = tape:record(function() return ds.sum(render.refract(x, im, {dx = p.dx})) end)
    tape:backward(loss)
  end)
  print(string.format("%-20s fwd %8.2f ms  fwd+bwd %8.2f ms", string.format("refract_%dx%dx3", n, n), 1000 * fwd,
    1000 * bwd))
  cli.result(string.format("refract_%d_fwd_ms", n), 1000 * fwd)
  cli.result(string.format("refract_%d_fwd_bwd_ms", n), 1000 * bwd)
end

print(string.format("wave benchmark: precision %s, %d threads, %d levels (%d updates), best of %d", ds.precision,
  ds.threads(), opt.steps, opt.steps - 2, opt.reps))
local bw1, bw2 = machine_bandwidth()
print(string.format("%-20s memcpy %.1f GB/s (1 thread)  core.copy %.1f GB/s (%d threads)  [%d MB arrays, read+write]",
  "machine", bw1, bw2, ds.threads(), opt.copy_mb))
cli.result("machine_copy_gbps", math.max(bw1, bw2))
local machine = math.max(bw1, bw2)
for _, n in ipairs{256, opt.big} do
  local f, t, b = case(n)
  print(string.format("%-20s fwd %.0f%%  fwd+tape %.0f%%  bwd %.0f%% of the machine's copy bandwidth", "",
    100 * f / machine, 100 * t / machine, 100 * b / machine))
end
render_case(256)

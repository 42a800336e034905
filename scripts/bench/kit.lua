-- Kit benchmark: particle <-> grid transfers (MPM sizes) and the fused MLP
-- (robot controller sizes). One line per case; median ms over reps.
--   diffsim scripts/bench/kit.lua [--precision f32|f64] [--threads T]
-- Each transfer case runs at 1 thread and at --threads (default 2).
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {script = "scripts/bench/kit.lua", name = "bench_kit", out = "out/bench",
                                flags = {reps = 20},
                                checks = {reps = {help = "timed repetitions per case (the best is reported)"}}})
local bench = ds.bench
local threads = opt.threads and opt.threads > 0 and opt.threads or 2

-- P particles uniform in the middle `frac` of a cubic grid of `dims` nodes (dx = 1/n)
local function particles(P, dims, frac, seed)
  local dx = 1 / dims[1]
  local span = (dims[1] - 2) * dx
  local lo = dx * 0.5 + span * (1 - frac) / 2
  return ds.rand({P, #dims}, seed, lo, lo + span * frac), dx
end

local function transfer_case(name, P, dims, frac, C)
  local x, dx = particles(P, dims, frac, 7)
  local v = ds.randn({P, C}, 8)
  local grid = ds.kit.p2g(x, v, dims, {dx = dx})
  local gout = ds.randn({P, C}, 9)
  for _, t in ipairs{1, threads} do
    ds.set_threads(t)
    local p2g = bench.time(function() ds.kit.p2g(x, v, dims, {dx = dx}) end, opt.reps)
    local g2p = bench.time(function() ds.kit.g2p(x, grid, {dx = dx}) end, opt.reps)
    -- p2g backward: d/dv (a g2p) and d/dx (weight gradients)
    x:requires_grad(); v:requires_grad()
    local bwd = bench.time(function()
      local tape = ds.tape()
      local loss = tape:record(function() return ds.dot(ds.kit.p2g(x, v, dims, {dx = dx}), grid) end)
      tape:backward(loss)
    end, opt.reps)
    x:requires_grad(false); v:requires_grad(false)
    bench.case(name, {particles = P, grid = table.concat(dims, "x"), channels = C, threads = t, p2g_ms = p2g,
                      g2p_ms = g2p, p2g_fwd_bwd_ms = bwd},
               {"particles", "grid", "channels", "threads", "p2g_ms", "g2p_ms", "p2g_fwd_bwd_ms"})
  end
  ds.set_threads(threads)
end

transfer_case("p2g_2d", 65536, {128, 128}, 1.0, 3)
transfer_case("p2g_3d", 32768, {64, 64, 64}, 0.5, 4)

-- MLP: the reference robot controller (26 masses in 2D: 10 + 4*26 + 2 inputs,
-- 32 hidden, one output per spring), single sample (one rollout step) and a batch.
local n_in, H, n_out = 10 + 4 * 26 + 2, 32, 60
local net = ds.nn.mlp{sizes = {n_in, H, n_out}, act = "tanh", out_act = "tanh", seed = 1}
local w = ds.kit.flatten(net:parameters()):detach()
local net_flat = {sizes = {n_in, H, n_out}, acts = {"tanh", "tanh"}, w = w}
for _, B in ipairs{1, 681} do
  local xb = ds.randn({B, n_in}, 3)
  local fwd = bench.time(function() ds.kit.mlp(net_flat, xb) end, opt.reps * 10)
  xb:requires_grad(); w:requires_grad()
  local fb = bench.time(function()
    local tape = ds.tape()
    local loss = tape:record(function() return ds.sum(ds.kit.mlp(net_flat, xb)) end)
    tape:backward(loss)
  end, opt.reps * 10)
  xb:requires_grad(false); w:requires_grad(false)
  bench.case("mlp", {sizes = n_in .. "-" .. H .. "-" .. n_out, batch = B, fwd_us_per_sample = fwd * 1e3 / B,
                     fwd_bwd_us_per_sample = fb * 1e3 / B},
             {"sizes", "batch", "fwd_us_per_sample", "fwd_bwd_us_per_sample"})
end

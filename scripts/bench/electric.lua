-- electric benchmark: one optimisation iteration of the electric scene (511
-- steps, network 8 -> 64 tanh -> 8 tanh, the kit's fused MLP per step), forward
-- and backward ms, peak memory, one line per case.
--   diffsim scripts/bench/electric.lua [--precision f32|f64] [--threads T] [--reps N]
--
-- Cases: fused (electric.nn_rollout: one forward and one adjoint launch) and
-- steps (the same rollout composed in Lua per step: ds.kit.mlp + electric.step
-- + the input assembly, every launch on the tape: what a custom controller
-- costs). Beside them: the network's useful GFLOP/s (2 x 1024 multiply-adds a
-- step forward, twice that backward). The rollout is a serial chain of 511
-- small mat-vecs (one core, no parallelism to use), so the limit beside it is
-- one core's: a 64 x 64 mat-vec from L1 runs at a few GFLOP/s without AVX-512.
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {script = "scripts/bench/electric.lua", name = "bench_electric", out = "out/bench",
                                flags = {reps = 20, steps = 511, hidden = 64},
                                checks = {reps = {help = "timed repetitions per case (the best is reported)"},
                                          steps = {help = "time steps per rollout"},
                                          hidden = {help = "hidden units of the controller network"}}})
local el = ds.plugin("electric")
local bench = ds.bench
local T, H = opt.steps, opt.hidden

local net = {ds.rand({8, H}, 1, -0.15, 0.15), ds.zeros{H}, ds.rand({H, 8}, 2, -0.15, 0.15), ds.zeros{8}}
for _, p in ipairs(net) do p:requires_grad() end
local goal, goal_v = el.goal_path({{0.3, 0.4}, {0.6, 0.7}, {0.5, 0.2}}, 256, T)
local x0, v0 = ds.tensor{0.3, 0.4}, ds.zeros{2}

local function line(name, f, b, peak, best, extra)
  local flops = T * 2 * (8 * H + H * 8)
  print(string.format("case %s forward_ms %.3f backward_ms %.3f total_ms %.3f best_total_ms %.3f peak_mb %.2f " ..
    "net_gflops_fwd %.2f net_gflops_bwd %.2f steps %d hidden %d precision %s threads %d%s", name, f, b, f + b, best, peak,
    flops / f / 1e6, 2 * flops / b / 1e6, T, H, ds.precision, ds.threads(), extra or ""))
  io.stdout:flush()
end

local f, b, peak, best = bench.time_iter(net, function()
  local xs = el.nn_rollout(net, x0, v0, goal, goal_v)
  return ds.sum(ds.square(ds.slice_rows(xs, 2, T) - goal)) * 0.03
end, {reps = opt.reps})
line("fused", f, b, peak, best)

-- per step from Lua: the input is assembled with core ops from the state
local half = ds.tensor{0.5, 0.5}
local function steps()
  local spec = {sizes = {8, H, 8}, acts = {"tanh", "tanh"}, w = ds.kit.flatten(net)}
  local x, v, loss = x0, v0, nil
  for t = 1, T do
    local g_t, gv_t = ds.reshape(ds.slice_rows(goal, t, 1), {2}), ds.reshape(ds.slice_rows(goal_v, t, 1), {2})
    local input = ds.concat{x - half, v, g_t - half, gv_t - half}
    x, v = el.step(x, v, ds.kit.mlp(spec, input))
    local l = ds.sum(ds.square(x - g_t))
    loss = loss and loss + l or l
  end
  return loss * 0.03
end
f, b, peak, best = bench.time_iter(net, steps, {reps = math.max(1, math.floor(opt.reps / 4))})
line("steps", f, b, peak, best, " (per-step launches: 2 slices, concat, mlp, step, loss terms)")

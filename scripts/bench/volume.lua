-- volume renderer benchmark: ms per view, forward and backward, of render.volume
-- at the scene's size (128^3 density, 512^2 pixels, 1000 march steps of 0.02),
-- trilinear and nearest, one line per case.
--   diffsim scripts/bench/volume.lua [--precision f32|f64] [--threads T] [--reps N] [--res 512] [--n 128]
--
-- Beside the times: the samples that fall in the box (the work; the kernel
-- skips the steps outside it), samples per second, and the machine's copy
-- bandwidth. The density (8 MB in f32) is read at random-ish addresses along
-- each ray, so the limit is the cache hierarchy's latency rather than DRAM
-- bandwidth; the backward writes the same taps, slab by slab.
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {script = "scripts/bench/volume.lua", name = "bench_volume", out = "out/bench",
                                flags = {reps = 3, res = 512, n = 128, views = 1},
                                checks = {reps = {help = "timed repetitions (the best is reported)"},
                                          res = {help = "image size res x res, in pixels"},
                                          n = {help = "density grid n^3, in voxels"}, views = {help = "camera views (count)"}}})
local render = ds.plugin("render")
local bench = ds.bench
local n, res, V = opt.n, opt.res, opt.views

local angles = render.volume_angles(7)
local ang = {}
for v = 1, V do ang[v] = angles[(v - 1) % 7 + 1] end
local samples = ds.no_grad(function() return ds.sum(render.volume(ds.ones{n, n, n}, ang, {res = res})):item() end)
local gbps = bench.copy_gbps(math.floor(256 * 2 ^ 20 / (ds.precision == "f64" and 8 or 4)), 3)
for _, mode in ipairs{"trilinear", "nearest"} do
  local d = ds.rand({n, n, n}, 1, 0, 1 / n):requires_grad()
  local target = ds.zeros{V, res, res}
  local f, b, peak, best = bench.time_iter({d}, function()
    return ds.mean(ds.square(render.volume(d, ang, {res = res, mode = mode}) - target))
  end, {reps = opt.reps})
  local fields = {forward_ms_per_view = f / V, backward_ms_per_view = b / V, total_ms_per_view = (f + b) / V,
    best_total_ms_per_view = best / V, peak_mb = peak, samples_per_view = samples / V,
    msamples_per_s_fwd = samples / f / 1e3, msamples_per_s_bwd = samples / b / 1e3, n = n, res = res, views = V,
    precision = ds.precision, threads = ds.threads(), copy_gbps = gbps}
  bench.case(mode, fields, {"forward_ms_per_view", "backward_ms_per_view", "total_ms_per_view", "best_total_ms_per_view",
    "peak_mb", "samples_per_view", "msamples_per_s_fwd", "msamples_per_s_bwd", "n", "res", "views", "precision",
    "threads", "copy_gbps"})
end

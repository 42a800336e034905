-- cage: steer the centre of a 3D mass-spring cage by its springs' rest lengths.
--
--   diffsim scripts/cage.lua [--iters 10] [--n 5] [--out out/cage]
--
-- The cage (scenes/cage.lua: an n^3 lattice with edge, face- and body-diagonal
-- springs, corners pinned, gravity -9.8, damping 2) starts at rest; after 2 s
-- (1000 steps of 2e-3) its centre particle should sit at `target` (default: the
-- rest position moved by (+0.03, +0.04, -0.02)). Loss: squared distance. The
-- variables are all rest lengths; L-BFGS (history 10, Armijo backtracking) takes
-- one iteration per printed line. There is no reference version of this scene.
-- Under the success check (--check, or the default --iters) exits 1 unless the
-- loss fell.
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {name = "cage", script = "scripts/cage.lua", iters = 10, out = "out/cage",
                                precision = "f64", flags = {n = 5, time = 2.0, dx = 0.03, dy = 0.04, dz = -0.02, vtk = false},
                                checks = {n = {int = true, ge = 2, le = 64, help = "particles per cage edge (n^3 in all)"},
                                          time = {gt = 0, le = 1e4, help = "simulated time, in seconds"},
                                          dx = {help = "target offset of the centre along x, in m"},
                                          dy = {help = "target offset of the centre along y, in m"},
                                          dz = {help = "target offset of the centre along z, in m"},
                                          vtk = {help = "write the optimised rollout for ParaView: cage.pvd + cage_NNNN.vtp"}}})
local springs = ds.plugin("springs")
local cage = require("scenes.cage").build{n = opt.n}
local sys = springs.system(cage.scene)
local T = math.floor(opt.time / sys:dt() + 0.5)
local c = cage.center
local start = cage.scene.x[c]
local target = {start[1] + opt.dx, start[2] + opt.dy, start[3] + opt.dz}
local rest = sys.rest:requires_grad()

local function loss_of(xs)
  local total
  for d = 1, 3 do
    local e = ds.square(springs.select(xs, -1, c, d) - target[d])
    total = total and total + e or e
  end
  return total
end

local tape = ds.tape()
local evals = 0
local function closure()
  rest:zero_grad()
  local loss = tape:record(function() return loss_of(sys:rollout(T)) end)
  tape:backward(loss)
  evals = evals + 1
  return loss
end

io.stderr:write(string.format("cage: %d particles, %d springs, %d steps; centre particle %d\n", sys.n, sys.ns, T, c))
local initial = ds.no_grad(function() return loss_of(sys:rollout(T)) end):item()
local lbfgs = ds.optim.lbfgs({rest}, {max_iter = 1, history = 10})
local losses = {}
local bar = ds.progress.new(opt.iters, "cage")
local t0 = ds.now()
for it = 1, opt.iters do
  lbfgs:step(closure)
  losses[it] = ds.no_grad(function() return loss_of(sys:rollout(T)) end):item()
  cli.iter(it, losses[it])
  bar:update(it, losses[it])
  if losses[it] < 1e-14 then break end
end
bar:done()
local secs = ds.now() - t0
cli.write_losses(ds, opt.out, losses, {title = "cage", ylabel = "squared distance to the target (m^2)"})
local xs = ds.no_grad(function() return (sys:rollout(T)) end)
local final = springs.row(xs, T + 1)
ds.io.write_png(opt.out .. "/cage.png", sys:render(final, nil, {width = 400, height = 400, view = {0.2, 1.1, 0.2, 1.1}}))
if opt.vtk then
  -- ParaView: the lattice (masses as points, springs as lines) every 20th step, times in seconds
  local list, times = {}, {}
  for t = 1, T + 1, 20 do
    list[#list + 1] = {points = springs.row(xs, t), lines = sys.pairs}
    times[#times + 1] = (t - 1) * sys:dt()
  end
  ds.io.write_vtk_series(opt.out .. "/cage.pvd", list, {times = times})
end
local fin = final:tolist()
cli.result("loss_initial", initial)
cli.result("loss_final", losses[#losses])
cli.result("center_m", fin[(c - 1) * 3 + 1], fin[(c - 1) * 3 + 2], fin[(c - 1) * 3 + 3])
cli.result("target_m", target[1], target[2], target[3])
cli.result("evaluations", evals)
cli.result("wall_seconds", secs)
cli.check(opt, "cage", losses[#losses] < initial, "the loss did not decrease")

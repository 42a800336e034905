-- cloth_fit: recover a cloth's membrane and bending stiffness from its drape.
--
--   diffsim scripts/cloth_fit.lua [--iters 15] [--res 10] [--out out/cloth_fit]
--
-- The scene (SCENES.md, "Cloth drape"): a 0.5 m square cloth (res x res cells,
-- two triangles each: StVK membrane with E, nu = 0.3, thickness 1 mm, 0.2 kg/m^2;
-- discrete-shells dihedral bending with k_bend on every interior edge), held at
-- the two corners of one edge, hangs under gravity. Each corner is a clip: the
-- corner cell's four vertices are pinned flat. (With the two corner vertices
-- alone the cloth hangs as a flat vertical sheet, every dihedral angle stays 0,
-- and the drape does not depend on k_bend at all: nothing to recover.) Its drape is the static
-- equilibrium (fem body:static). The target drape is made with E = 2e4 Pa and
-- k_bend = 5e-4 J; the fit starts from --e-init and --k-init and minimises the
-- mean squared vertex distance to the target (in cm^2) over log E and log k_bend
-- with L-BFGS (one iteration per printed line). Every gradient is one IFT
-- solve with the drape's Hessian (no unrolled Newton); each evaluation
-- warm-starts the static solve from the previous drape.
--
-- Results: loss_initial, loss_final, loss_reduction, ms_per_iter, then
-- E_true_pa, E_fit_pa, E_rel_err, k_bend_true_j, k_bend_fit_j, k_bend_rel_err,
-- evaluations. Pictures: loss.png, drape.png (oblique view: target, start,
-- fit), drape_side.png (side view); --vtk: target.vtk, start.vtk, fit.vtk. Check (--check, or the default --iters):
-- the loss fell a thousandfold and both stiffnesses are within 1% of the truth.
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {name = "cloth_fit", script = "scripts/cloth_fit.lua", iters = 15, out = "out/cloth_fit",
  precision = "f64", flags = {res = 10, e_init = 5e3, k_init = 5e-3, membrane = "stvk", vtk = false},
  checks = {res = {int = true, ge = 2, le = 64, help = "cells per side of the square cloth (2 res^2 triangles)"},
            e_init = {gt = 0, help = "starting membrane Young's modulus, in Pa (the truth is 2e4)"},
            k_init = {gt = 0, help = "starting bending stiffness, in J (the truth is 5e-4)"},
            membrane = {"stvk", "neohookean", help = "membrane energy: StVK (tri_membrane) or Neo-Hookean (tri_neohookean)"},
            vtk = {help = "write the drapes for ParaView: target.vtk, start.vtk, fit.vtk"}}})
local fem = ds.plugin("fem")

local TRUE_E, TRUE_K = 2e4, 5e-4
local N = opt.res
local sheet = fem.cloth_mesh{size = {0.5, 0.5}, res = {N, N}}
local body = fem.cloth{verts = sheet.verts, tris = sheet.tris, E = TRUE_E, nu = 0.3, thickness = 1e-3,
  areal_density = 0.2, k_bend = TRUE_K, membrane = opt.membrane, pins = {sheet.index(0, 0), sheet.index(1, 0), sheet.index(0, 1), sheet.index(1, 1),
  sheet.index(N, 0), sheet.index(N - 1, 0), sheet.index(N, 1), sheet.index(N - 1, 1)}, gravity = {0, -9.81, 0},
  tol = ds.precision == "f64" and 1e-10 or 1e-5, max_iters = 100,
  dt = 0.1} -- only settle() steps in time: quasi-static relaxation steps

-- The drape for stiffnesses (E, k) from scratch, off the tape: long implicit
-- Euler steps from the flat sheet, each from rest (v = 0: a quasi-static
-- relaxation whose mass term keeps Newton's Hessian definite while the sheet
-- swings down; the flat sheet alone has a free rotation about the pinned edge),
-- until a step moves no vertex by more than 1 mm, then the static solve.
local function settle(E, k)
  return ds.no_grad(function()
    body:set_param(1, "E", E)
    body:set_param(2, "k_bend", k)
    local x = ds.copy(body.rest)
    for _ = 1, 100 do
      local x1 = body:step(x, ds.zeros{body.n, 3}, nil)
      local moved = 0
      for _, v in ipairs((x1 - x):tolist()) do moved = math.max(moved, math.abs(v)) end
      x = x1
      if moved < 1e-3 then break end
    end
    return body:static(x)
  end)
end

io.stderr:write(string.format("cloth_fit: %d vertices, %d triangles, %d hinges\n", body.n, body.tris:shape()[1],
  body.hinges:shape()[1]))
local target = settle(TRUE_E, TRUE_K)
local start = settle(opt.e_init, opt.k_init)
local warm = start

-- Parameters: log E and log k_bend relative to the starting values' scale.
local lE = ds.tensor(0.0):requires_grad()
local lk = ds.tensor(0.0):requires_grad()
local function stiffness() return ds.exp(lE) * opt.e_init, ds.exp(lk) * opt.k_init end
local SCALE = 1 / (body.n * 1e-4) -- mean squared distance in cm^2

local function drape()
  local E, k = stiffness()
  body:set_param(1, "E", E)
  body:set_param(2, "k_bend", k)
  local ok, y = pcall(body.static, body, warm)
  if not ok then -- a trial step far from the last drape: settle again, then solve on the tape
    warm = settle(E:item(), k:item())
    body:set_param(1, "E", E)
    body:set_param(2, "k_bend", k)
    y = body:static(warm)
  end
  return y
end
local function loss_of(y) return ds.sum(ds.square(y - target)) * SCALE end

local tape, evals = ds.tape(), 0
local function closure()
  lE:zero_grad()
  lk:zero_grad()
  local y
  local loss = tape:record(function()
    y = drape()
    return loss_of(y)
  end)
  tape:backward(loss)
  warm = y:detach()
  evals = evals + 1
  return loss
end

local lbfgs = ds.optim.lbfgs({lE, lk}, {max_iter = 1, history = 10})
local losses = {}
local bar = ds.progress.new(opt.iters, "cloth_fit")
local t0 = ds.now()
local initial = ds.no_grad(function() return loss_of(start):item() end)
for it = 1, opt.iters do
  losses[it] = lbfgs:step(closure) -- the loss at the iterate the step started from
  local E, k = stiffness()
  cli.iter(it, losses[it], string.format("E_pa %.6g k_bend_j %.6g", E:item(), k:item()))
  bar:update(it, losses[it])
  if losses[it] < 1e-12 then break end -- 1e-6 cm rms: converged to round-off of the drape
end
bar:done()
local secs = ds.now() - t0
local fit = ds.no_grad(function() return drape() end)
local final = ds.no_grad(function() return loss_of(fit):item() end)
local E, k = stiffness()
E, k = E:item(), k:item()

-- ---- pictures ---------------------------------------------------------------
-- The grid lines of each drape (no diagonals), projected by `project` onto a
-- plane: fem.plot_mesh draws the first two coordinates.
local grid = {}
for i = 0, N do
  for j = 0, N do
    if i < N then grid[#grid + 1] = {sheet.index(i, j), sheet.index(i + 1, j)} end
    if j < N then grid[#grid + 1] = {sheet.index(i, j), sheet.index(i, j + 1)} end
  end
end
local function view(path, project, title, xlabel)
  local shapes = {}
  for s, x in ipairs({start, fit, target}) do
    local rows = {}
    for i, p in ipairs(x:totable()) do rows[i] = {project(p)} end
    shapes[s] = ds.tensor(rows)
  end
  fem.plot_mesh(path, shapes, nil, {edges = grid, title = title, xlabel = xlabel, ylabel = "height y (m)",
    width = 720, height = 560, legend = "bottom-right",
    labels = {string.format("start (E %.3g, k %.3g)", opt.e_init, opt.k_init), string.format("fit (E %.4g, k %.4g)", E, k),
              "target (E 2e4, k 5e-4), drawn over the fit"}})
end
view(opt.out .. "/drape.png", function(p) return p[1] + 0.45 * p[3], p[2] + 0.3 * p[3], 0 end,
  "cloth_fit: drapes, oblique view", "x + 0.45 z (m)")
view(opt.out .. "/drape_side.png", function(p) return p[3], p[2], 0 end, "cloth_fit: drapes seen along x", "z (m)")
if opt.vtk then
  for name, x in pairs({target = target, start = start, fit = fit}) do
    fem.write_vtk(opt.out .. "/" .. name .. ".vtk", x, body.tris, {displacement = x - body.rest})
  end
end

-- the standard result lines (cli.finish's), with loss_initial the start's loss (before any step)
cli.write_losses(ds, opt.out, losses, {title = "cloth_fit", ylabel = "loss (cm^2)"})
cli.result("loss_initial", initial)
cli.result("loss_final", final)
cli.result("loss_reduction", initial / final)
cli.result("ms_per_iter", 1000 * secs / math.max(#losses, 1))
for _, r in ipairs({{"E_true_pa", TRUE_E}, {"E_fit_pa", E}, {"E_rel_err", math.abs(E - TRUE_E) / TRUE_E},
                    {"k_bend_true_j", TRUE_K}, {"k_bend_fit_j", k}, {"k_bend_rel_err", math.abs(k - TRUE_K) / TRUE_K},
                    {"evaluations", evals}}) do
  cli.result(unpack(r))
end
cli.check(opt, "cloth_fit", final < 1e-3 * initial, string.format("the loss fell only from %.3g to %.3g", initial, final))
cli.check(opt, "cloth_fit", math.abs(E - TRUE_E) < 0.01 * TRUE_E and math.abs(k - TRUE_K) < 0.01 * TRUE_K,
  string.format("E %.4g (true %.4g) or k_bend %.4g (true %.4g) is off by more than 1%%", E, TRUE_E, k, TRUE_K))

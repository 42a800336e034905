-- cantilever: the FEM beam of SCENES.md brought to rest, against Euler-Bernoulli.
--
--   diffsim scripts/cantilever.lua [--res 3] [--model snh] [--method static] [--convergence] [--out out/cantilever]
--
-- A 1.0 x 0.1 x 0.1 m beam clamped at x = 0 (E = 1e8 Pa, nu = 0.3, 1000 kg/m^3,
-- gravity 9.81 m/s^2 along -y), meshed with 10 res x res x res hexahedral cells
-- of 6 tetrahedra each. --method static solves the static equilibrium (Newton on
-- the elastic + gravity potential); --method dynamic runs implicit Euler
-- (dt 0.01 s) with mass-proportional damping until the velocity vanishes.
-- Beam theory: delta = q L^4 / (8 E I), q = rho g A, I = h^4 / 12 (1.47 cm).
-- Linear tetrahedra lock in bending, so the deflection approaches theory from
-- below as --res grows; --convergence solves every res from 1 to --res and
-- prints the table. Pictures: the deformed mesh (side view, deflection x 10)
-- and the deflection along the beam against beam theory; --vtk writes the
-- deformed mesh for ParaView. The check: the deflection lies between 15% and
-- 103% of theory and (with --convergence) grows with the resolution.
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {name = "cantilever", script = "scripts/cantilever.lua", iters = 0, out = "out/cantilever",
  precision = "f64", flags = {res = 3, model = "snh", method = "static", convergence = false, vtk = false},
  checks = {res = {int = true, ge = 1, le = 12, help = "cells across the beam's height (10 res along it)"},
            model = {"snh", "corot", "linear", help = "tetrahedron material: stable Neo-Hookean, corotated, linear"},
            method = {"static", "dynamic", help = "static solve, or damped implicit Euler to rest"},
            convergence = {help = "solve every resolution 1..res and print the convergence table"},
            vtk = {help = "write the deformed beam for ParaView: cantilever.vtk"}}})
local fem = ds.plugin("fem")

local L, h, E, nu, rho, g = 1.0, 0.1, 1e8, 0.3, 1000, 9.81
local q, I = rho * g * h * h, h ^ 4 / 12
local theory = q * L ^ 4 / (8 * E * I)
local function beam_w(x) return q * x * x * (6 * L * L - 4 * L * x + x * x) / (24 * E * I) end

local function solve(r)
  local mesh = fem.beam_mesh{length = L, height = h, width = h, res = r}   -- 10 r x r x r cells
  local body = fem.body{verts = mesh.verts, sets = {{type = "tet_" .. opt.model, elems = mesh.tets, E = E, nu = nu,
    density = rho}}, pins = fem.select(mesh.verts, function(x) return x < 1e-9 end), gravity = {0, -g, 0},
    dt = 0.01, damping = {alpha = 60}}
  local t0 = ds.now()
  local y, iters, steps = nil, 0, 0
  if opt.method == "static" then
    y = body:static()
    iters = fem.stats().iters
  else
    local x, v = ds.copy(mesh.verts), ds.zeros{mesh.n, 3}
    for t = 1, 2000 do
      x, v = body:step(x, v, {step = t})
      iters, steps = iters + fem.stats().iters, t
      if t > 10 and ds.norm(v):item() < 1e-7 then break end
    end
    y = x
  end
  local secs = ds.now() - t0
  local Y, X = y:totable(), mesh.verts:totable()
  local s, c = 0, 0
  for i, p in ipairs(Y) do
    if X[i][1] > L - 1e-9 then s, c = s + X[i][2] - p[2], c + 1 end
  end
  return {tip = s / c, mesh = mesh, y = y, iters = iters, steps = steps, secs = secs}
end

local rs = opt.convergence and {} or {opt.res}
if opt.convergence then for r = 1, opt.res do rs[#rs + 1] = r end end
local runs, prev_ok = {}, true
for k, r in ipairs(rs) do
  runs[k] = solve(r)
  local u = runs[k]
  io.stderr:write(string.format("cantilever: res %d (%d tets, %d vertices): tip deflection %.6f m = %.1f%% of theory, "
    .. "%d Newton iterations%s, %.2f s\n", r, u.mesh.m, u.mesh.n, u.tip, 100 * u.tip / theory, u.iters,
    opt.method == "dynamic" and (" over " .. u.steps .. " steps") or "", u.secs))
  if opt.convergence then cli.result("tip_deflection_res" .. r .. "_m", u.tip) end
  if k > 1 and not (u.tip > runs[k - 1].tip) then prev_ok = false end
end
local last = runs[#runs]

-- pictures: the deformed mesh (deflection x 10) over the rest mesh, and w(x) against theory
local mesh = last.mesh
local scale = 10
local shown = mesh.verts + (last.y - mesh.verts) * scale
fem.plot_mesh(opt.out .. "/cantilever_mesh.png", {mesh.verts, shown}, mesh.tets, {
  labels = {"rest", string.format("at rest under gravity (displacement x %d)", scale)},
  title = string.format("cantilever, res %d, %s: tip %.2f cm (theory %.2f cm)", opt.res, opt.model, 100 * last.tip,
                        100 * theory), legend = "bottom-left"})
local Y, X = last.y:totable(), mesh.verts:totable()
local bins, xs = {}, {}
for i, p in ipairs(X) do
  local key = math.floor(p[1] / L * 10 * opt.res + 0.5)
  bins[key] = bins[key] or {0, 0}
  bins[key][1], bins[key][2] = bins[key][1] + p[2] - Y[i][2], bins[key][2] + 1
end
local fx, fw, tw = {}, {}, {}
for k = 0, 10 * opt.res do
  fx[#fx + 1] = k / (10 * opt.res) * L
  fw[#fw + 1] = 100 * bins[k][1] / bins[k][2]
  tw[#tw + 1] = 100 * beam_w(fx[#fx])
end
ds.io.plot(opt.out .. "/cantilever_deflection.png", {{x = fx, y = fw, label = "FEM (" .. opt.model .. ", res " .. opt.res .. ")"},
  {x = fx, y = tw, label = "Euler-Bernoulli"}}, {title = "cantilever deflection", xlabel = "x (m)",
  ylabel = "deflection (cm)", legend = "top-left"})
if opt.convergence then
  local rr, dd, tt = {}, {}, {}
  for k, u in ipairs(runs) do rr[k], dd[k], tt[k] = rs[k], 100 * u.tip, 100 * theory end
  ds.io.plot(opt.out .. "/cantilever_convergence.png", {{x = rr, y = dd, label = "FEM tip deflection"},
    {x = rr, y = tt, label = "Euler-Bernoulli"}}, {title = "cantilever: convergence with refinement",
    xlabel = "res (cells across the height)", ylabel = "tip deflection (cm)", legend = "bottom-right"})
end
if opt.vtk then
  local disp = last.y - mesh.verts
  fem.write_vtk(opt.out .. "/cantilever.vtk", last.y, mesh.tets, {displacement = disp})
end
cli.result("tip_deflection_m", last.tip)
cli.result("theory_tip_deflection_m", theory)
cli.result("ratio_to_theory", last.tip / theory)
cli.result("tets", mesh.m)
cli.result("newton_iterations", last.iters)
cli.result("wall_seconds", last.secs)
cli.check(opt, "cantilever", last.tip > 0.15 * theory and last.tip < 1.03 * theory,
  string.format("tip deflection %.4g m is not within 15%%..103%% of beam theory %.4g m", last.tip, theory))
cli.check(opt, "cantilever", prev_ok, "the deflection did not grow with the resolution")

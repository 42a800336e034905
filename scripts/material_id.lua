-- material_id: recover Young's modulus and Poisson's ratio of a block from its
-- observed rest shape.
--
--   diffsim scripts/material_id.lua [--iters 30] [--res 2] [--out out/material_id]
--
-- A 0.1 x 0.3 x 0.1 m gel block (density 1000 kg/m^3, stable Neo-Hookean)
-- hangs from its clamped top face under gravity; it is also pressed sideways
-- by a pin that pushes its bottom face 1 cm along x (so shear and bulging, not
-- only the sag, are observed). The observed vertex positions come from a static
-- solve with the true E = 5e4 Pa, nu = 0.35. Starting from E = 2e5 Pa, nu = 0.1,
-- L-BFGS fits (w, s) with E = 1e5 Pa / w (the compliance, in which displacements
-- are nearly linear) and nu = 0.25 + 0.25 tanh(s) (nu stays in (0, 0.5)),
-- minimising the squared position error over every vertex, normalised by the
-- observed displacement. Each evaluation is one static Newton solve; the
-- gradient is the implicit-function adjoint (one solve). Pictures: the loss
-- curve and the front view of the start, observed and fitted shapes. The check:
-- E and nu within 1% of the truth.
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {name = "material_id", script = "scripts/material_id.lua", iters = 30,
  out = "out/material_id", precision = "f64", flags = {res = 2, e_true = 5e4, nu_true = 0.35, vtk = false},
  checks = {res = {int = true, ge = 1, le = 8, help = "cells across the block's width (3 res along its height)"},
            e_true = {gt = 0, help = "the true Young's modulus that makes the observation, in Pa"},
            nu_true = {gt = 0, lt = 0.5, help = "the true Poisson's ratio that makes the observation"},
            vtk = {help = "write the observed and fitted shapes for ParaView: observed.vtk, fitted.vtk"}}})
local fem = ds.plugin("fem")

local mesh = fem.box_mesh{size = {0.1, 0.3, 0.1}, res = {opt.res, 3 * opt.res, opt.res}}
local top = fem.select(mesh.verts, function(_, y) return y > 0.3 - 1e-9 end)
local bottom = fem.select(mesh.verts, function(_, y) return y < 1e-9 end)
local pin_list = {}
for _, i in ipairs(top:totable()) do pin_list[#pin_list + 1] = i end
for _, i in ipairs(bottom:totable()) do pin_list[#pin_list + 1] = i end
local pins = ds.tensor(pin_list, "i32")
local pin_pos = ds.gather(mesh.verts, pins):totable()
local ntop = top:numel()
for j = ntop + 1, #pin_pos do pin_pos[j][1] = pin_pos[j][1] + 0.01 end
pin_pos = ds.tensor(pin_pos)

local function body_with(E, nu)
  return fem.body{verts = mesh.verts, sets = {{type = "tet_snh", elems = mesh.tets, E = E, nu = nu, density = 1000}},
                  pins = pins, gravity = {0, -9.81, 0}, mode = "static"}
end
local function shape(E, nu) return body_with(E, nu):static(nil, {pin_pos = pin_pos}) end

local observed = ds.no_grad(shape, opt.e_true, opt.nu_true)
local scale = ds.no_grad(function() return ds.sum(ds.square(observed - mesh.verts)) end):item()

local function atanh(u) return 0.5 * math.log((1 + u) / (1 - u)) end
-- compliance w = E_REF / E: displacements are nearly linear in it, so the loss is nearly
-- quadratic (in log E it is concave on the stiff side, where L-BFGS stalls)
local E_REF = 1e5
local wc, s = ds.tensor(E_REF / 2e5):requires_grad(), ds.tensor(atanh((0.1 - 0.25) / 0.25)):requires_grad()
local function params() return ds.div(E_REF, ds.clamp(wc, 1e-3, 1e3)), ds.tanh(s) * 0.25 + 0.25 end
local function loss_of()
  local E, nu = params()
  return ds.sum(ds.square(shape(E, nu) - observed)) / scale
end

local tape = ds.tape()
local function closure()
  wc:zero_grad(); s:zero_grad()
  local loss = tape:record(loss_of)
  tape:backward(loss)
  return loss
end
local start = ds.no_grad(function() return shape(2e5, 0.1) end)
local initial = ds.no_grad(loss_of):item()
local lbfgs = ds.optim.lbfgs({wc, s}, {max_iter = 1, history = 10})
local losses = {}
local t0 = ds.now()
for it = 1, opt.iters do
  lbfgs:step(closure)
  losses[it] = ds.no_grad(loss_of):item()
  cli.iter(it, losses[it])
  cli.check_loss("material_id", it, losses[it])
  if losses[it] < 1e-18 then break end
end
local secs = ds.now() - t0
local E, nu = params()
E, nu = E:item(), nu:item()
local fitted = ds.no_grad(shape, E, nu)
cli.write_losses(ds, opt.out, losses, {title = "material_id", ylabel = "relative squared position error"})
local function shown(y) return mesh.verts + (y - mesh.verts) * 4 end -- displacements x 4
fem.plot_mesh(opt.out .. "/material_id_shapes.png", {shown(start), shown(observed), shown(fitted)}, mesh.tets, {
  labels = {"start: E 2e5 Pa, nu 0.1", string.format("observed: E %.3g, nu %.3g", opt.e_true, opt.nu_true),
            string.format("fitted: E %.4g, nu %.4g", E, nu)},
  title = "material identification (front view, displacements x 4)", width = 900, height = 700, legend = "right"})
if opt.vtk then
  fem.write_vtk(opt.out .. "/observed.vtk", observed, mesh.tets)
  fem.write_vtk(opt.out .. "/fitted.vtk", fitted, mesh.tets)
end
cli.result("loss_initial", initial)
cli.result("loss_final", losses[#losses])
cli.result("loss_reduction", initial / losses[#losses])
cli.result("ms_per_iter", 1000 * secs / #losses)
cli.result("young_modulus_pa", E)
cli.result("poisson_ratio", nu)
cli.result("young_modulus_rel_error", math.abs(E / opt.e_true - 1))
cli.result("poisson_ratio_rel_error", math.abs(nu / opt.nu_true - 1))
cli.check(opt, "material_id", math.abs(E / opt.e_true - 1) < 0.01 and math.abs(nu / opt.nu_true - 1) < 0.01,
  string.format("recovered E = %.4g, nu = %.4g; the truth is E = %.4g, nu = %.4g", E, nu, opt.e_true, opt.nu_true))

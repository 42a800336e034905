-- fem plugin: bad input gets a clear error naming the kernel or function and
-- the argument, never a crash or a silently wrong number. Each probe runs in a
-- child process.
local probe = require("probe")

local pre = probe.prelude .. [[
local fem = ds.plugin("fem")
local X = ds.tensor{{0, 0, 0}, {1, 0, 0}, {0, 1, 0}, {0, 0, 1}}
local T = ds.tensor({{0, 1, 2, 3}}, "i32")
local function one(o)
  o = o or {}
  return fem.body{verts = o.verts or X, sets = {{type = o.type or "tet_snh", elems = o.elems or T, E = o.E or 1e4,
                  nu = o.nu or 0.3}}, pins = o.pins, dt = o.dt, max_iters = o.max_iters, mode = o.mode}
end
local mesh = fem.box_mesh{size = {0.2, 0.1, 0.1}, res = {2, 1, 1}}
]]

local function cases(list)
  for _, c in ipairs(list) do
    it(c[1], function() probe.fails_cleanly(pre .. c[1], c[2]) end)
  end
end

describe("fem refuses bad rest elements and materials", function()
  cases({
    {"one{verts = ds.tensor{{0, 0, 0}, {1, 0, 0}, {0, 1, 0}, {1, 1, 0}}}:static()",
     "fem.step: set 1 (tet_snh) element 0: rest volume 0 is zero or degenerate"},
    {"one{elems = ds.tensor({{0, 2, 1, 3}}, 'i32')}:static()",
     "fem.step: set 1 (tet_snh) element 0: rest volume -0.167 is negative: the element is inverted"},
    {"one{nu = 0.5}:static()", "fem.step: set 1 (tet_snh) element 0: Poisson's ratio nu = 0.5 must be in (-1, 0.5)"},
    {"one{nu = 0.7, type = 'tet_linear'}:static()", "Poisson's ratio nu = 0.7 must be in (-1, 0.5)"},
    {"one{nu = -1}:static()", "Poisson's ratio nu = -1 must be in (-1, 0.5)"},
    {"one{E = -5}:static()", "fem.step: set 1 (tet_snh) element 0: Young's modulus E = -5 must be positive"},
    {"one{E = 0/0}:static()", "must be positive and finite"},
    {"local b = one(); b:set_param(1, 'act_vol', -1); b:static()", "act_vol = -1 must be > -1"},
    {"local b = one(); b:set_param(1, 'nu', ds.tensor{0.3, 0.2}); b:static()",
     "fem.set_param: nu must be a number, a 0-dim tensor or a tensor {1}"},
    {"one{type = 'hex'}", "fem.body: sets[1]: unknown element type 'hex' (types: tet_snh"},
    {"local b = one(); b:step(X, nil, {dt = 1})", "fem body:step: unknown option 'dt'"},
    {"local b = one(); b:static(X, {mode = 'implicit'})", "fem body:static: unknown option 'mode'"},
    {"local b = one(); b:rollout(2, X, nil, {steps = 3})", "fem body:rollout: unknown option 'steps'"},
    {"fem.body{verts = X, sets = {{type = 'tet_snh', elems = T, Young = 3}}}",
     "fem.body: sets[1] has no parameter 'Young' (tet_snh takes E, nu, density"},
  })
end)

describe("fem refuses wrong shapes and out-of-range indices", function()
  cases({
    {"one{verts = ds.zeros{4, 2}}", "fem.body: verts must have shape {n,3}, got {4,2}"},
    {"one{elems = ds.tensor({{0, 1, 2}}, 'i32')}", "fem.body: sets[1].elems must have shape {m,4} for tet_snh, got {1,3}"},
    {"one{elems = ds.tensor({{0, 1, 2, 9}}, 'i32')}:static()",
     "fem.step: argument 'conn': set 1 (tet_snh) element 0 has vertex index 9, out of range for 4 vertices"},
    {"one{elems = ds.tensor({{0, 1, 2, -1}}, 'i32')}:static()", "has vertex index -1, out of range"},
    {"one{pins = ds.tensor({7}, 'i32')}", "fem.body: pins[1] = 7 is out of range for 4 vertices (0-based)"},
    {"one():step(ds.zeros{5, 3}, ds.zeros{4, 3})", "fem.step: argument 'v' (#2) has shape {4,3}, expected {5,3}"},
    {"one{pins = ds.tensor({0}, 'i32')}:step(X, ds.zeros{4, 3}, {pin_pos = ds.zeros{2, 3}})",
     "fem.step: argument 'pin_pos' must be {1,3}"},
    {"one{dt = -1}:step(X, ds.zeros{4, 3})", "fem.step: param 'dt' must be positive, got -1"},
    {"one():step(X, ds.zeros{4, 3}, {mode = 'explicit'})", "fem.step: mode must be implicit, static or symplectic"},
    {"fem.box_mesh{res = {0, 1, 1}}", "fem.box_mesh: res[1] must be a positive integer, got 0"},
    {"fem.body{verts = X, sets = {{type = 'tet_snh', elems = T, density = 0}}}:step(X, ds.zeros{4, 3})",
     "fem.step: vertex 0 has no mass (it is in no element with a positive density) and is not pinned"},
  })
end)

describe("fem never returns a silently unconverged or ungradiented state", function()
  cases({
    {[[local b = fem.body{verts = mesh.verts, sets = {{type = 'tet_snh', elems = mesh.tets, E = 1e7}}, dt = 0.5,
         max_iters = 1}
       b:step(mesh.verts, 3 * ds.randn({mesh.n, 3}, 5), {step = 7})]],
     "ds_newton: step 'fem.step (implicit Euler) 7' did not converge in 1 iterations: |G| ="},
    {[[local b = fem.body{verts = mesh.verts, sets = {{type = 'tet_snh', elems = mesh.tets, E = 1e7}}, max_iters = 1}
       b:rollout(3, mesh.verts + 0.05 * ds.randn({mesh.n, 3}, 1))]],
     "ds_newton: step 'fem.step (implicit Euler) 1' did not converge in 1 iterations"},
    {[[local b = one(); local y = ds.copy(X):requires_grad()
       local tape = ds.tape(); tape:record(function() return ds.tensor(b:energy(y, X)) end)]],
     "fem.energy"},
    {[[local b = fem.body{verts = mesh.verts, sets = {{type = 'tet_snh', elems = mesh.tets, E = 1e7}}, mode = 'symplectic',
         dt = 0.05}
       local x, v = mesh.verts + 0.01 * ds.randn({mesh.n, 3}, 2), ds.zeros{mesh.n, 3}
       for t = 1, 200 do x, v = b:step(x, v, {step = t}) end]],
     "symplectic Euler produced a non-finite position"},
  })
end)

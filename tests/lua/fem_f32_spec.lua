-- fem plugin in float32: the same physics and gradients as float64 to float32's
-- accuracy (reference numbers from the float64 build). Newton iterates on the
-- step's increment with the system evaluated in double, so float32 storage of
-- the positions does not stall it.
local ds = require("diffsim")
ds.init{precision = "f32", threads = 2}
local fem = ds.plugin("fem")

describe("fem in float32", function()
  it("cantilever static deflection matches float64", function()
    local mesh = fem.box_mesh{size = {1, 0.1, 0.1}, res = {20, 2, 2}}
    local body = fem.body{verts = mesh.verts, sets = {{type = "tet_snh", elems = mesh.tets, E = 1e8, nu = 0.3,
                          density = 1000}}, pins = fem.select(mesh.verts, function(x) return x < 1e-9 end)}
    local y, X = body:static():totable(), mesh.verts:totable()
    local s, c = 0, 0
    for i, p in ipairs(y) do if X[i][1] > 1 - 1e-6 then s, c = s + X[i][2] - p[2], c + 1 end end
    local f64 = 0.00748540683
    io.stderr:write(string.format("  f32 tip %.9g, f64 %.9g, %d Newton iterations\n", s / c, f64, fem.stats().iters))
    assert.is_true(math.abs(s / c / f64 - 1) < 1e-4)
  end)

  it("a 5-step rollout's loss and IFT gradients match float64", function()
    local mesh = fem.box_mesh{size = {0.2, 0.1, 0.1}, res = {2, 1, 1}}
    local pins = fem.select(mesh.verts, function(x) return x < 1e-9 end)
    local E = ds.tensor(2e5):requires_grad()
    local b = fem.body{verts = mesh.verts, sets = {{type = "tet_snh", elems = mesh.tets, E = E, nu = 0.3, density = 900}},
                       pins = pins, dt = 1e-2}
    local x0, v0 = ds.copy(mesh.verts):requires_grad(), ds.full({mesh.n, 3}, 0.1):requires_grad()
    local w = {}
    for i = 1, mesh.n do w[i] = {math.sin(i), math.cos(i), 0.5} end
    local W = ds.tensor(w)
    local tape = ds.tape()
    local loss = tape:record(function() return ds.dot(b:rollout(5, x0, v0)[6], W) end)
    tape:backward(loss)
    local ref = {-0.006425411563, -2.978686081e-08, -0.004038227452, -0.0006860254447}   -- float64
    local got = {loss:item(), E.grad:item(), x0.grad:totable()[mesh.n][2], v0.grad:totable()[mesh.n][1]}
    io.stderr:write(string.format("  f32 %.6g %.6g %.6g %.6g\n", got[1], got[2], got[3], got[4]))
    assert.is_true(math.abs(got[1] - ref[1]) < 1e-5)
    for k = 2, 4 do assert.is_true(math.abs(got[k] / ref[k] - 1) < 1e-2) end
  end)
end)

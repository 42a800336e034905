-- fem cloth in float32: a clipped cloth's drape (quasi-static relaxation, then
-- a static solve) and its IFT gradients w.r.t. the membrane and bending
-- stiffness agree with the float64 build's numbers.
local ds = require("diffsim")
ds.init{precision = "f32", threads = 2}
local fem = ds.plugin("fem")

describe("fem cloth in float32", function()
  it("a drape and its gradients w.r.t. E and k_bend match float64", function()
    local N = 6
    local sheet = fem.cloth_mesh{size = {0.5, 0.5}, res = {N, N}}
    local E, k = ds.tensor(2e4):requires_grad(), ds.tensor(5e-4):requires_grad()
    local body = fem.cloth{verts = sheet.verts, tris = sheet.tris, E = E, nu = 0.3, thickness = 1e-3, areal_density = 0.2,
      k_bend = k, pins = {sheet.index(0, 0), sheet.index(1, 0), sheet.index(0, 1), sheet.index(1, 1),
      sheet.index(N, 0), sheet.index(N - 1, 0), sheet.index(N, 1), sheet.index(N - 1, 1)}, dt = 0.1}
    local x = ds.copy(body.rest)
    for _ = 1, 100 do -- relax from rest steps until nothing moves 1 mm
      local x1 = ds.no_grad(function() return body:step(x, ds.zeros{body.n, 3}) end)
      local moved = 0
      for _, v in ipairs((x1 - x):tolist()) do moved = math.max(moved, math.abs(v)) end
      x = x1
      if moved < 1e-3 then break end
    end
    local w = {}
    for i = 1, body.n do w[i] = {math.sin(i), 1, math.cos(i)} end
    local W = ds.tensor(w)
    local tape, y = ds.tape(), nil
    local loss = tape:record(function() y = body:static(x) return ds.dot(y, W) end)
    tape:backward(loss)
    local got = {loss:item(), E.grad:item(), k.grad:item(), y:totable()[body.n][2]}
    local ref = {-9.393939294, 2.111491179e-05, 587.0959011, -0.4209637913} -- float64
    io.stderr:write(string.format("  f32 %.9g %.6g %.6g %.9g\n", got[1], got[2], got[3], got[4]))
    assert.is_true(math.abs(got[1] / ref[1] - 1) < 1e-5, "loss")
    assert.is_true(math.abs(got[2] / ref[2] - 1) < 1e-3, "dL/dE")
    assert.is_true(math.abs(got[3] / ref[3] - 1) < 1e-3, "dL/dk_bend")
    assert.is_true(math.abs(got[4] - ref[4]) < 1e-5, "lowest corner's height")
  end)
end)

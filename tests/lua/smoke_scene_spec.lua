-- The timing peer's scene (SCENES.md): 110^2, 99 steps, 6 Jacobi sweeps,
-- init_smoke.png -> peace.png, plain GD with lr 100 on the initial velocity.
-- Its loss must fall at every one of the first 10 iterations; the CG variant
-- must fall too; and the script must run headless and leave its outputs.
local ds = require("diffsim")
ds.init{precision = "f32", threads = 2}
local smoke = ds.plugin("smoke")

local function optimise(iters, sim)
  local init, target = smoke.peer_images()
  local n = smoke.peer.n
  local vx, vy = ds.zeros{n, n}, ds.zeros{n, n}
  local gd = ds.optim.gd({vx, vy}, {lr = smoke.peer.lr})
  local losses = {}
  for it = 1, iters do
    gd:zero_grad()
    local tape = ds.tape()
    local loss = tape:record(function()
      local st = smoke.rollout({v = {vx, vy}, s = init}, smoke.peer.steps, sim)
      return ds.mean(ds.square(st.s - target))
    end)
    tape:backward(loss)
    losses[it] = loss:item()
    gd:step()
  end
  return losses
end

describe("smoke scene (the timing peer's configuration)", function()
  it("uses the peer's images and sizes", function()
    local init, target = smoke.peer_images()
    assert.are.same({110, 110}, init:shape())
    assert.are.same({110, 110}, target:shape())
    local lo, hi = ds.io.range(target)
    assert.is_true(lo >= 0 and hi <= 1 and hi > 0.5)
    assert.are.equal(99, smoke.peer.steps)
    assert.are.equal(6, smoke.peer.iters)
  end)
  it("the loss falls monotonically over the first 10 iterations (Jacobi, 6 sweeps)", function()
    local l = optimise(10, {iters = 6})
    for i = 2, #l do
      assert.is_true(l[i] < l[i - 1], string.format("iteration %d: %.6g after %.6g", i, l[i], l[i - 1]))
    end
    assert.is_true(l[10] < 0.6 * l[1], string.format("%.4g -> %.4g", l[1], l[10]))
  end)
  it("the loss falls with the implicit-adjoint CG projection too", function()
    local l = optimise(3, {solver = "cg", tol = 1e-4})
    assert.is_true(l[2] < l[1] and l[3] < l[2], table.concat(l, " "))
  end)
  it("scripts/smoke.lua runs headless, prints its lines and writes its outputs", function()
    local out = os.tmpname()
    os.remove(out)
    local root = os.getenv("DIFFSIM_ROOT") or "."
    local cmd = string.format("luajit %s/scripts/smoke.lua --iters 2 --out %s --threads 2 2>&1", root, out)
    local p = io.popen(cmd)
    local text = p:read("*a")
    local ok = p:close()
    assert.is_truthy(ok, text)
    assert.is_truthy(text:find("iter 1 loss [%d%.e%-]+"), text)
    assert.is_truthy(text:find("result loss_final [%d%.e%-]+"), text)
    for _, f in ipairs{"loss.csv", "loss.png", "final_optimized.png", "rollout.gif", "target.png"} do
      local fh = io.open(out .. "/" .. f, "rb")
      assert.is_truthy(fh, f .. " missing")
      fh:close()
    end
    os.execute("rm -rf '" .. out .. "'")
  end)
end)

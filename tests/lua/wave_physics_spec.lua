-- Physics of the wave plugin: conserved energy, symmetry, pulse speed,
-- reflections, determinism. float64 throughout.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local wave = ds.plugin("wave")

-- Runs `updates` leap-frog updates from u0 at rest; calls fn(t, u_prev, u) each level.
local function run(u0, p, updates, fn)
  local a, b = u0, wave.start(u0, nil, p)
  if fn then fn(1, a, b) end
  for t = 2, updates + 1 do
    a, b = b, wave.step(a, b, p)
    if fn then fn(t, a, b) end
  end
  return b, a
end

local function bump(n, m, r, q, amp, width)
  return wave.drops(ds.tensor{{r, q, amp, width}}, {n, m})
end

describe("wave physics", function()
  for _, bname in ipairs{"dirichlet", "reflect"} do
    it("undamped: the discrete energy is conserved (" .. bname .. ")", function()
      local p = wave.params{n = 48, boundary = bname}
      local u0 = wave.drops(ds.tensor{{20, 14, 1, 3}, {30, 33, -0.6, 2}}, {48, 48})
      local e0, lo, hi
      run(u0, p, 400, function(_, a, b)
        local e = wave.energy(a, b, p):item()
        e0 = e0 or e
        lo, hi = math.min(lo or e, e), math.max(hi or e, e)
      end)
      assert.is_true(e0 > 0)
      assert.is_true((hi - lo) / e0 < 1e-10, string.format("energy drifted by %.3g relative", (hi - lo) / e0))
    end)
  end

  it("damped: the energy never grows and decays", function()
    local p = wave.params{n = 48, alpha = 0.002}
    local u0 = bump(48, 48, 24, 24, 1, 3)
    local prev, first, last
    local grew = 0
    run(u0, p, 300, function(_, a, b)
      local e = wave.energy(a, b, p):item()
      if prev and e > prev * (1 + 1e-12) then grew = grew + 1 end
      first, prev, last = first or e, e, e
    end)
    assert.are.equal(0, grew)
    assert.is_true(last < 0.5 * first, string.format("energy %.4g -> %.4g", first, last))
  end)

  it("at the CFL limit the energy stays bounded; past it the kernel refuses", function()
    local p = wave.params{n = 32, dt = wave.dt_max(340, 1 / 32)}
    local u0 = ds.randn({32, 32}, 5) -- every mode, including the fastest
    local e0, hi
    run(u0, p, 200, function(_, a, b)
      local e = wave.energy(a, b, p):item()
      e0 = e0 or e
      hi = math.max(hi or e, e)
    end)
    assert.is_true(hi < 1.01 * e0)
    p.dt = p.dt * 1.001
    assert.has_error(function() wave.step(u0, u0, p) end)
  end)

  it("a centred bump stays symmetric under x, y and transpose", function()
    local n = 33
    local p = wave.params{n = n}
    local uT = run(bump(n, n, 16, 16, 1, 2.5), p, 150)
    local u = uT:totable()
    local worst = 0
    for i = 1, n do
      for j = 1, n do
        worst = math.max(worst, math.abs(u[i][j] - u[n + 1 - i][j]), math.abs(u[i][j] - u[i][n + 1 - j]),
                         math.abs(u[i][j] - u[j][i]))
      end
    end
    local amp = 0
    for i = 1, n do for j = 1, n do amp = math.max(amp, math.abs(u[i][j])) end end
    assert.is_true(amp > 1e-3)
    assert.is_true(worst <= 1e-12 * amp, "asymmetry " .. worst)
  end)

  -- A plane pulse (constant along each column, reflecting side walls keep it
  -- so) splits in two halves travelling at +-c.
  local function plane_pulse(m, centre, width, bname)
    local rows = {}
    for i = 1, 4 do
      local r = {}
      for j = 1, m do r[j] = math.exp(-((j - 1 - centre) ^ 2) / (2 * width * width)) end
      rows[i] = r
    end
    return ds.tensor(rows), wave.params{n = m, boundary = bname}
  end
  local function peak(row, lo, hi) -- sub-cell peak position by a parabola through the max
    local best = lo
    for j = lo, hi do if row[j] > row[best] then best = j end end
    local a, b, c = row[best - 1], row[best], row[best + 1]
    return (best - 1) + 0.5 * (a - c) / (a - 2 * b + c), b
  end

  it("a pulse travels at speed c", function()
    local m = 601
    local u0, p = plane_pulse(m, 150, 6, "reflect")
    p.boundary = 1
    local updates = 500
    local uT = run(u0, p, updates)
    local row = uT:totable()[2]
    -- level t is at time t dt; the last level is updates + 1
    local expect = (updates + 1) * p.c * p.dt / p.dx -- cells travelled
    local x, h = peak(row, 200, m - 2)
    assert.is_true(math.abs((x - 150) - expect) < 0.01 * expect,
      string.format("pulse moved %.3f cells, c t / dx = %.3f", x - 150, expect))
    assert.is_true(math.abs(h - 0.5) < 0.02, "each half carries half the amplitude, got " .. h)
  end)

  it("walls reflect: inverted at a zero (Dirichlet) wall, upright at a reflecting one", function()
    local m, R = 201, 200
    for _, case in ipairs{{"dirichlet", -1}, {"reflect", 1}} do
      -- across the strip: the lowest mode of the side walls (a half sine for
      -- Dirichlet, a constant for reflecting), so the pulse stays a plane pulse
      local rows = {}
      for i = 1, R do
        local s = case[1] == "dirichlet" and math.sin(math.pi * i / (R + 1)) or 1
        local r = {}
        for j = 1, m do r[j] = s * math.exp(-((j - 101) ^ 2) / 32) end
        rows[i] = r
      end
      local p = wave.params{n = m, boundary = case[1]}
      -- there and back: each half travels 100 cells to its wall and 100 back
      local uT = run(ds.tensor(rows), p, math.floor(200 * math.sqrt(3)))
      local row = uT:totable()[R / 2]
      local ext = 0
      for j = 80, 120 do if math.abs(row[j]) > math.abs(ext) then ext = row[j] end end
      if case[2] > 0 then
        assert.is_true(ext > 0.8, "reflected pulse " .. ext)
      else
        assert.is_true(ext < -0.6, "reflected pulse " .. ext)
      end
    end
  end)

  it("results are bitwise identical for 1 and 2 threads", function()
    local p = wave.params{n = 96, alpha = 0.001}
    local u0 = wave.drops(ds.tensor{{40, 50, 1, 4}}, {96, 96})
    local function go(th)
      ds.set_threads(th)
      local x = u0:detach():requires_grad()
      local tape = ds.tape()
      local loss = tape:record(function()
        local uT = wave.rollout(x, p, {steps = 60})
        return ds.sum(ds.square(uT)) + wave.energy(uT, x, p)
      end)
      tape:backward(loss)
      return loss:item(), x.grad:tolist()
    end
    local l1, g1 = go(1)
    local l2, g2 = go(2)
    ds.set_threads(2)
    assert.are.equal(l1, l2)
    for i = 1, #g1 do if g1[i] ~= g2[i] then error("gradient differs at " .. i) end end
  end)
end)

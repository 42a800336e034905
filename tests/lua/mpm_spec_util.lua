-- Helpers shared by the MPM specs (2D and 3D).
local M = {}

-- The largest difference of x, v, C, F between one launch(args, p) and k
-- chained launches of dt / k (a split substep must equal the latter).
function M.split_gap(launch, args, p, k)
  local one = launch(args, p)
  local q = {}
  for key, v in pairs(p) do q[key] = v end
  q.dt = p.dt / k
  local st = args
  for _ = 1, k do
    local o = launch(st, q)
    st = {}
    for key, v in pairs(args) do st[key] = v end
    st.x, st.v, st.C, st.F = o.x_out, o.v_out, o.C_out, o.F_out
  end
  local worst = 0
  for _, key in ipairs{"x", "v", "C", "F"} do
    local a, b = one[key .. "_out"]:data(), st[key]:data()
    for i = 0, one[key .. "_out"]:numel() - 1 do worst = math.max(worst, math.abs(a[i] - b[i])) end
  end
  return worst
end

-- Asserts that a launch splits exactly where a particle would cross more than
-- one cell per step: gap(k, cells) is split_gap against k launches of dt / k for
-- a block whose fastest particle crosses `cells` cells per step.
function M.assert_split_threshold(gap)
  local function check(k, cells, same)
    local d = gap(k, cells)
    local msg = string.format("%g cells per step vs %d launches: %g", cells, k, d)
    assert(same and d < 1e-12 or not same and d > 1e-9, msg)
  end
  -- 0.999 cells per step: a plain launch, not two halves; 1.001 cells: two halves
  check(1, 0.999, true)
  check(2, 0.999, false)
  check(2, 1.001, true)
  check(3, 1.001, false)
end

-- {values[1], values[2], ..} repeated to n entries (per-particle materials, groups).
function M.cycle(n, values)
  local t = {}
  for i = 1, n do t[i] = values[(i - 1) % #values + 1] end
  return t
end

-- Prints a spec's worst FD errors (name -> max abs error), sorted by name;
-- there must be some (a spec whose checks all vanished fails here).
function M.report(errs, width)
  local keys = {}
  for k in pairs(errs) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do print(string.format("# fd %-" .. width .. "s max_abs_err %.2e", k, errs[k])) end
  assert(#keys > 0, "no FD check reported an error")
end

-- 3 x 3 matrices as row tables: the product A B, and the rotation
-- Rz(a) Ry(b) Rx(c).
function M.mul3(A, B)
  local o = {}
  for i = 1, 3 do
    o[i] = {}
    for j = 1, 3 do o[i][j] = A[i][1] * B[1][j] + A[i][2] * B[2][j] + A[i][3] * B[3][j] end
  end
  return o
end
function M.rot3(a, b, c)
  local ca, sa, cb, sb, cc, sc = math.cos(a), math.sin(a), math.cos(b), math.sin(b), math.cos(c), math.sin(c)
  return M.mul3(M.mul3({{ca, -sa, 0}, {sa, ca, 0}, {0, 0, 1}}, {{cb, 0, sb}, {0, 1, 0}, {-sb, 0, cb}}),
    {{1, 0, 0}, {0, cc, -sc}, {0, sc, cc}})
end

return M

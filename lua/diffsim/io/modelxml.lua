-- Shared pieces of the MJCF and URDF loaders (io/mjcf.lua, io/urdf.lua):
-- attribute readers that raise "<fmt>: <file>:<line>: <elem> attribute 'a':
-- <why>", element and attribute whitelists, and the small rotation and
-- inertia arithmetic both formats need (quaternions w x y z, 3x3 row-major).
local xml = require("diffsim.io.xml")

local M = {}

-- A reader bound to one format name ("mjcf", "urdf") for messages.
function M.reader(fmt)
  local R = {}

  local function tagname(el)
    local n = el.attr and el.attr.name
    return n and string.format("<%s name='%s'>", el.tag, n) or ("<" .. el.tag .. ">")
  end
  R.tagname = tagname

  function R.fail(el, msg, ...)
    error(string.format("%s: %s: %s %s", fmt, xml.where(el), tagname(el), string.format(msg, ...)), 0)
  end

  function R.fail_attr(el, a, msg, ...)
    R.fail(el, "attribute '%s': " .. msg, a, ...)
  end

  -- The raw value: the element's own, else a default's, else nil.
  local function raw(el, a, dflt)
    local v = el.attr[a]
    if v == nil and dflt then v = dflt[a] end
    return v
  end
  R.raw = raw

  function R.required(el, a)
    local v = el.attr[a]
    if v == nil or v == "" then R.fail(el, "is missing the required attribute '%s'", a) end
    return v
  end

  -- n numbers (n = nil: any count >= 1); default returned when absent.
  function R.numbers(el, a, n, default, dflt)
    local s = raw(el, a, dflt)
    if s == nil then return default end
    local out = {}
    for tok in s:gmatch("%S+") do
      -- decimal only: LuaJIT's tonumber also reads hex (0x10), XML models never mean it
      local x = not tok:match("^[+-]?0[xX]") and tonumber(tok) or nil
      if x == nil or x ~= x or x == math.huge or x == -math.huge then
        R.fail_attr(el, a, "'%s' is not a finite number (in \"%s\")", tok, s)
      end
      out[#out + 1] = x
    end
    if n and #out ~= n then
      R.fail_attr(el, a, "needs %d number%s, got %d (\"%s\")", n, n == 1 and "" or "s", #out, s)
    end
    if #out == 0 then R.fail_attr(el, a, "is empty") end
    return out
  end

  function R.number(el, a, default, dflt)
    local v = R.numbers(el, a, 1, nil, dflt)
    if v == nil then return default end
    return v[1]
  end

  -- One of a list of words.
  function R.choice(el, a, words, default, dflt)
    local s = raw(el, a, dflt)
    if s == nil then return default end
    for _, w in ipairs(words) do if s == w then return s end end
    R.fail_attr(el, a, "'%s' is not one of %s", s, table.concat(words, ", "))
  end

  function R.bool(el, a, default, dflt)
    local s = R.choice(el, a, {"true", "false", "auto"}, nil, dflt)
    if s == nil or s == "auto" then return default end
    return s == "true"
  end

  -- Every attribute of el must be in known (a set) or ignored (a set).
  function R.check_attrs(el, known, ignored)
    for _, a in ipairs(el.order) do
      if not known[a] and not (ignored and ignored[a]) then
        local names = {}
        for k in pairs(known) do names[#names + 1] = k end
        table.sort(names)
        R.fail(el, "has an unsupported attribute '%s' (supported: %s)", a, table.concat(names, " "))
      end
    end
  end

  function R.unknown_child(el, child, allowed)
    local names = {}
    for k in pairs(allowed) do names[#names + 1] = "<" .. k .. ">" end
    table.sort(names)
    R.fail(child, "is not supported inside <%s> (supported: %s)", el.tag, table.concat(names, " "))
  end

  return R
end

function M.set(list)
  local s = {}
  for _, k in ipairs(list) do s[k] = true end
  return s
end

-- ---- rotations: quaternions {w, x, y, z}, matrices {r11..r33} row-major ----
function M.qmul(a, b)
  return {a[1] * b[1] - a[2] * b[2] - a[3] * b[3] - a[4] * b[4],
          a[1] * b[2] + a[2] * b[1] + a[3] * b[4] - a[4] * b[3],
          a[1] * b[3] - a[2] * b[4] + a[3] * b[1] + a[4] * b[2],
          a[1] * b[4] + a[2] * b[3] - a[3] * b[2] + a[4] * b[1]}
end

function M.qnormalize(q)
  local n = math.sqrt(q[1] ^ 2 + q[2] ^ 2 + q[3] ^ 2 + q[4] ^ 2)
  return {q[1] / n, q[2] / n, q[3] / n, q[4] / n}, n
end

function M.qaxis(axis, angle)
  local n = math.sqrt(axis[1] ^ 2 + axis[2] ^ 2 + axis[3] ^ 2)
  local s = math.sin(angle / 2) / n
  return {math.cos(angle / 2), axis[1] * s, axis[2] * s, axis[3] * s}
end

-- Rotation matrix of a unit quaternion.
function M.qmat(q)
  local w, x, y, z = q[1], q[2], q[3], q[4]
  return {1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
          2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
          2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)}
end

function M.mv(R, v)
  return {R[1] * v[1] + R[2] * v[2] + R[3] * v[3],
          R[4] * v[1] + R[5] * v[2] + R[6] * v[3],
          R[7] * v[1] + R[8] * v[2] + R[9] * v[3]}
end

-- q rotates v.
function M.qrot(q, v) return M.mv(M.qmat(q), v) end

-- Quaternion whose frame's z axis is the unit vector d (the shortest arc from z).
function M.qz_to(d)
  local c = d[3]
  if c > 1 - 1e-12 then return {1, 0, 0, 0} end
  if c < -1 + 1e-12 then return {0, 1, 0, 0} end
  local ax = {-d[2], d[1], 0}
  return M.qaxis(ax, math.acos(c))
end

-- ---- inertia: symmetric 3x3 stored {ixx, iyy, izz, ixy, ixz, iyz} ----
local function full(I)
  return {I[1], I[4], I[5], I[4], I[2], I[6], I[5], I[6], I[3]}
end
local function packed(A)
  return {A[1], A[5], A[9], A[2], A[3], A[6]}
end

-- R I R^T for a frame rotated by R (I given in the rotated frame).
function M.irot(R, I)
  local A = full(I)
  local B, C = {}, {}
  for i = 0, 2 do
    for j = 0, 2 do
      local s = 0
      for k = 0, 2 do s = s + R[i * 3 + k + 1] * A[k * 3 + j + 1] end
      B[i * 3 + j + 1] = s
    end
  end
  for i = 0, 2 do
    for j = 0, 2 do
      local s = 0
      for k = 0, 2 do s = s + B[i * 3 + k + 1] * R[j * 3 + k + 1] end
      C[i * 3 + j + 1] = s
    end
  end
  return packed(C)
end

-- Sum of bodies {mass, com {3}, inertia about its com (packed)}: the total
-- mass, its centre and its inertia about that centre (parallel axis theorem).
function M.combine(parts)
  local m, c = 0, {0, 0, 0}
  for _, p in ipairs(parts) do
    m = m + p.mass
    for k = 1, 3 do c[k] = c[k] + p.mass * p.com[k] end
  end
  if m <= 0 then return 0, {0, 0, 0}, {0, 0, 0, 0, 0, 0} end
  for k = 1, 3 do c[k] = c[k] / m end
  local I = {0, 0, 0, 0, 0, 0}
  for _, p in ipairs(parts) do
    local d = {p.com[1] - c[1], p.com[2] - c[2], p.com[3] - c[3]}
    local d2 = d[1] ^ 2 + d[2] ^ 2 + d[3] ^ 2
    I[1] = I[1] + p.inertia[1] + p.mass * (d2 - d[1] * d[1])
    I[2] = I[2] + p.inertia[2] + p.mass * (d2 - d[2] * d[2])
    I[3] = I[3] + p.inertia[3] + p.mass * (d2 - d[3] * d[3])
    I[4] = I[4] + p.inertia[4] - p.mass * d[1] * d[2]
    I[5] = I[5] + p.inertia[5] - p.mass * d[1] * d[3]
    I[6] = I[6] + p.inertia[6] - p.mass * d[2] * d[3]
  end
  return m, c, I
end

-- Principal moments of a packed inertia (Jacobi sweeps; 3x3 converges in a few).
function M.principal(I)
  local A = full(I)
  for _ = 1, 50 do
    local off = A[2] ^ 2 + A[3] ^ 2 + A[6] ^ 2
    if off < 1e-30 then break end
    for _, pq in ipairs({{1, 2}, {1, 3}, {2, 3}}) do
      local p, q = pq[1], pq[2]
      local apq = A[(p - 1) * 3 + q]
      if math.abs(apq) > 1e-300 then
        local app, aqq = A[(p - 1) * 3 + p], A[(q - 1) * 3 + q]
        local th = 0.5 * math.atan2(2 * apq, aqq - app)
        local c, s = math.cos(th), math.sin(th)
        local B = {}
        for i = 1, 9 do B[i] = A[i] end
        for k = 1, 3 do
          local akp, akq = A[(k - 1) * 3 + p], A[(k - 1) * 3 + q]
          B[(k - 1) * 3 + p] = c * akp - s * akq
          B[(k - 1) * 3 + q] = s * akp + c * akq
        end
        for k = 1, 3 do
          local bpk, bqk = B[(p - 1) * 3 + k], B[(q - 1) * 3 + k]
          A[(p - 1) * 3 + k] = c * bpk - s * bqk
          A[(q - 1) * 3 + k] = s * bpk + c * bqk
        end
        for k = 1, 3 do A[(k - 1) * 3 + p] = A[(p - 1) * 3 + k]; A[(k - 1) * 3 + q] = A[(q - 1) * 3 + k] end
      end
    end
  end
  local ev = {A[1], A[5], A[9]}
  table.sort(ev)
  return ev
end

-- Mass and inertia about its centre of a solid shape of density rho, in the
-- shape's own frame (capsule and cylinder along z). The same formulas as
-- MuJoCo's compiler (checked against its compiled models in the loader spec).
function M.shape_inertia(kind, size, rho)
  local pi = math.pi
  if kind == "sphere" then
    local r = size[1]
    local m = rho * 4 / 3 * pi * r ^ 3
    local i = 0.4 * m * r * r
    return m, {i, i, i, 0, 0, 0}
  elseif kind == "box" then
    local a, b, c = size[1], size[2], size[3]
    local m = rho * 8 * a * b * c
    return m, {m / 3 * (b * b + c * c), m / 3 * (a * a + c * c), m / 3 * (a * a + b * b), 0, 0, 0}
  elseif kind == "capsule" then
    -- a cylinder of height 2h plus two hemispheres, each at its own centroid
    -- 3r/8 beyond the cylinder's end (parallel axis theorem, exact).
    local r, h = size[1], size[2]
    local H = 2 * h
    local ms = rho * 4 / 3 * pi * r ^ 3
    local mc = rho * pi * r * r * H
    local iz = 0.4 * ms * r * r + 0.5 * mc * r * r
    local ix = mc * (3 * r * r + H * H) / 12 + ms * (0.4 * r * r + H * H / 4 + 3 * H * r / 8)
    return ms + mc, {ix, ix, iz, 0, 0, 0}
  elseif kind == "cylinder" then
    local r, h = size[1], size[2]
    local m = rho * pi * r * r * 2 * h
    local ix = m * (3 * r * r + 4 * h * h) / 12
    return m, {ix, ix, 0.5 * m * r * r, 0, 0, 0}
  end
  error("modelxml.shape_inertia: unknown shape " .. tostring(kind))
end

-- Volume of the same shapes (mass given instead of density: rho = m / V).
function M.shape_volume(kind, size)
  local pi = math.pi
  if kind == "sphere" then return 4 / 3 * pi * size[1] ^ 3 end
  if kind == "box" then return 8 * size[1] * size[2] * size[3] end
  if kind == "capsule" then return 4 / 3 * pi * size[1] ^ 3 + pi * size[1] ^ 2 * 2 * size[2] end
  if kind == "cylinder" then return pi * size[1] ^ 2 * 2 * size[2] end
end

return M

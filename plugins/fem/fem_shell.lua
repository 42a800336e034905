-- fem cloth / thin shells, mixed into the fem front end (fem.lua):
--
--   local sheet = fem.cloth_mesh{size = {1, 1}, res = {10, 10}, origin = {0, 0, 0}}
--       a rectangle in the x-z plane (normal +y): {verts {n,3}, tris i32 {m,3}
--       (0-based, consistently oriented), n, m, index(i, j) -> 0-based vertex}
--   local hinges = fem.hinges(tris, n)     i32 {H, 4}: one row per interior edge,
--       {v0, v1, v2, v3} with the edge v0-v1 and the wings v2, v3; an error names the
--       edge, triangles or vertex of a mesh that is not an oriented 2-manifold
--   local body = fem.cloth{verts =, tris =, E = 2e4, nu = 0.3, thickness = 1e-3,
--       areal_density = 0.2, k_bend = 5e-4, pins =, gravity =, dt =, ...}
--       a fem.body with two element sets: 1 = tri_membrane (E, nu, thickness,
--       areal_density: StVK membrane, mass; membrane = "neohookean": the
--       tri_neohookean type, same parameters) and 2 = hinge_bend (k_bend, J: the
--       discrete-shells dihedral energy). Every other key goes to fem.body
--       (pins, gravity, dt, mode, damping, ground, tol, max_iters, rest).
-- Parameters are numbers, 0-dim tensors or tensors {m} (per triangle / per
-- hinge) and get their gradients when they require grad, like any set's.
return function(ds, M)
  local O = require("diffsim.options")
  local raise = O.raise
  local hinge_kernel = ds.kernel("fem.shell_hinges")

  function M.hinges(tris, n)
    local who = "fem.hinges"
    if not ds.is_tensor(tris) then
      if type(tris) ~= "table" then raise(who .. ": tris must be an i32 tensor {m, 3} (0-based)") end
      tris = ds.tensor(tris, "i32")
    end
    local s = tris:shape()
    if tris:dtype_name() ~= "i32" or #s ~= 2 or s[2] ~= 3 or s[1] < 1 then
      raise(string.format("%s: tris must be an i32 tensor {m, 3} with m >= 1 (0-based), got a %s tensor {%s}", who,
        tris:dtype_name(), table.concat(s, ", ")))
    end
    n = O.number(who, "n", n, nil, {int = true, ge = 3, arg = true})
    local room, count = ds.zeros({math.floor(3 * s[1] / 2), 4}, "i32"), ds.zeros({1}, "i32")
    hinge_kernel:launch({tri = tris, hinges = room, count = count}, {nvert = n})
    local h = count:totable()[1]
    local rows = room:totable()
    local out = {}
    for i = 1, h do out[i] = rows[i] end
    return h > 0 and ds.tensor(out, "i32") or ds.zeros({0, 4}, "i32")
  end

  function M.cloth_mesh(o)
    local who = "fem.cloth_mesh"
    o = O.check(who, o, {"size", "res", "origin"})
    local size, res, org = o.size or {1, 1}, o.res or {10, 10}, o.origin or {0, 0, 0}
    for d = 1, 2 do
      O.number(who, "res[" .. d .. "]", res[d], nil, {int = true, ge = 1})
      O.number(who, "size[" .. d .. "]", size[d], nil, {gt = 0})
    end
    local nx, nz = res[1], res[2]
    local function idx(i, j) return i * (nz + 1) + j end
    local verts, tris = {}, {}
    for i = 0, nx do
      for j = 0, nz do verts[#verts + 1] = {org[1] + size[1] * i / nx, org[2], org[3] + size[2] * j / nz} end
    end
    -- (i, j) -> (i, j+1) -> (i+1, j): normal (0,0,1) x (1,0,0) = +y; diagonals alternate
    -- so the sheet has no preferred shear direction
    for i = 0, nx - 1 do
      for j = 0, nz - 1 do
        local a, b, c, d = idx(i, j), idx(i + 1, j), idx(i + 1, j + 1), idx(i, j + 1)
        if (i + j) % 2 == 0 then
          tris[#tris + 1] = {a, d, c}
          tris[#tris + 1] = {a, c, b}
        else
          tris[#tris + 1] = {a, d, b}
          tris[#tris + 1] = {b, d, c}
        end
      end
    end
    return {verts = ds.tensor(verts), tris = ds.tensor(tris, "i32"), n = #verts, m = #tris, index = idx,
            res = {nx, nz}, size = {size[1], size[2]}, origin = {org[1], org[2], org[3]}}
  end

  local MEMBRANE = {"E", "nu", "thickness", "areal_density"}
  function M.cloth(o)
    local who = "fem.cloth"
    if type(o) ~= "table" then raise(who .. ": expected a table of options") end
    if o.verts == nil or o.tris == nil then raise(who .. ": verts and tris are required") end
    local n = ds.is_tensor(o.verts) and o.verts:shape()[1] or #o.verts
    local tris = ds.is_tensor(o.tris) and o.tris or ds.tensor(o.tris, "i32")
    local hinges = M.hinges(tris, n)
    local kind = O.choice(who, "membrane", o.membrane, "stvk", {"stvk", "neohookean"})
    local mem = {type = kind == "stvk" and "tri_membrane" or "tri_neohookean", elems = tris}
    for _, k in ipairs(MEMBRANE) do mem[k] = o[k] end
    local sets = {mem}
    if hinges:shape()[1] > 0 then sets[2] = {type = "hinge_bend", elems = hinges, k_bend = o.k_bend} end
    local b = {sets = sets}
    for k, v in pairs(o) do
      if k ~= "tris" and k ~= "k_bend" and k ~= "membrane" and mem[k] == nil then b[k] = v end
    end
    b.verts = o.verts
    local body = M.body(b)
    body.tris, body.hinges = tris, hinges
    return body
  end
end

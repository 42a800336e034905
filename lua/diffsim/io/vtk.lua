-- State export for ParaView: VTK XML files (ASCII, so that they diff and a
-- test can read them) and a .pvd series file that ParaView opens as one
-- time-dependent data set.
--
--   ds.io.write_vtk("nodes.vtp", {points = t {n, 2|3}, lines = i32 {m, 2} (0-based),
--                                 point_data = {velocity = t {n, 2|3}, mass = t {n}}})
--   ds.io.write_vtk("smoke.vti", {grid = t {h, w} | {d, h, w}, name = "density",
--                                 spacing = 1, origin = {0, 0, 0}, point_data = {vx = t}})
--   ds.io.write_vtk_series("out/run.pvd", {data1, data2, ...} [, {times = {...}}])
--     writes out/run_0000.vtp|.vti, ... next to the .pvd; returns the file names.
-- Points: PolyData (.vtp), one vertex cell per point, plus one line cell per
-- row of `lines` (springs). Grids: ImageData (.vti) with the values at the
-- points; a 2D field's row 0 is its top, as in the PNGs (VTK's y points up,
-- so rows are written bottom first); a 3D field {d, h, w} is written as is
-- (x = last axis). point_data arrays: a grid's shape (scalars) or that shape
-- plus a last axis of 2 or 3 (vectors; 2 is padded with z = 0).
local ffi = require("ffi")

return function(ds)
  local O = require("diffsim.options").install(ds)
  local raise = O.raise
  local M = {}
  local f64 = ffi.sizeof("ds_real") == 8
  local FMT = f64 and "%.17g" or "%.9g"
  local VTYPE = f64 and "Float64" or "Float32"

  local function tensor(who, name, t, dtype)
    if not ds.is_tensor(t) then raise(string.format("%s: %s must be a tensor, got %s", who, name, O.describe(t))) end
    if t.ptr == nil then raise(string.format("%s: %s has been freed", who, name)) end
    if t:dtype_name() ~= (dtype or "real") then
      raise(string.format("%s: %s must be a%s %s tensor, got an %s tensor", who, name, dtype and "n" or "",
        dtype or "real", t:dtype_name()))
    end
    return t.device == "cpu" and t or t:to("cpu")
  end

  -- Values of t as text, `comps` per tuple; order(i) maps output tuple i to the
  -- source tuple (grids flip rows); pad adds zero components.
  local function values(t, comps, pad, ntuple, order)
    local p = t:data()
    local out, line = {}, {}
    for i = 0, ntuple - 1 do
      local s = order and order(i) or i
      for c = 0, comps - 1 do line[c + 1] = string.format(FMT, p[s * comps + c]) end
      for c = comps + 1, comps + pad do line[c] = "0" end
      out[#out + 1] = table.concat(line, " ", 1, comps + pad)
    end
    return table.concat(out, "\n")
  end
  local function ints(t)
    local p = ffi.cast("int32_t *", t:data())
    local out = {}
    for i = 0, t:numel() - 1 do out[#out + 1] = tostring(p[i]) end
    return table.concat(out, " ")
  end

  local function array(name, comps, text, vtype)
    return string.format('<DataArray type="%s" Name="%s" NumberOfComponents="%d" format="ascii">\n%s\n</DataArray>\n',
      vtype or VTYPE, name, comps, text)
  end

  local function xml_name(who, k)
    if type(k) ~= "string" or not k:match("^[%a_][%w_%-%.]*$") then
      raise(string.format("%s: point_data names must be plain names (letters, digits, _ - .), got %s", who,
        O.describe(k)))
    end
    return k
  end

  -- point_data entries in a fixed (sorted) order, checked against the tuple
  -- count and shape `base` (a list of dims).
  local function point_data(who, pd, base, ntuple, order)
    if pd == nil then return "" end
    if type(pd) ~= "table" or getmetatable(pd) ~= nil then
      raise(who .. ": 'point_data' must be a table {name = tensor}, got " .. O.describe(pd))
    end
    local names = {}
    for k in pairs(pd) do names[#names + 1] = xml_name(who, k) end
    table.sort(names)
    local out = {}
    for _, k in ipairs(names) do
      local t = tensor(who, "point_data." .. k, pd[k])
      local s = t:shape()
      local same = #s >= #base
      for d = 1, #base do same = same and s[d] == base[d] end
      local comps = #s == #base and 1 or (#s == #base + 1 and s[#s]) or 0
      if not same or comps < 1 or comps > 3 then
        raise(string.format("%s: point_data.%s has shape {%s}; it must be {%s} or {%s, 2|3}", who, k,
          table.concat(s, ", "), table.concat(base, ", "), table.concat(base, ", ")))
      end
      local pad = comps == 2 and 1 or 0
      out[#out + 1] = array(k, comps + pad, values(t, comps, pad, ntuple, order))
    end
    return table.concat(out)
  end

  local function write_file(who, path, text)
    local f, err = io.open(path, "wb")
    if not f then raise(string.format("%s: cannot write '%s': %s", who, path,
      tostring(err):match(":%s*([^:]+)$") or tostring(err))) end
    local ok, werr = f:write(text)
    f:close()
    if not ok then raise(string.format("%s: cannot write '%s': %s", who, path, tostring(werr))) end
  end

  local DATA_KEYS = {points = true, lines = true, point_data = true, grid = true, name = true, spacing = true,
                     origin = true}
  local function render(who, data)
    if type(data) ~= "table" or getmetatable(data) ~= nil then
      raise(who .. ": argument 'data' must be a table {points = t} or {grid = t}, got " .. O.describe(data))
    end
    for k in pairs(data) do
      if not DATA_KEYS[k] then
        raise(string.format("%s: unknown key %s in 'data' (valid: grid, lines, name, origin, point_data, points, spacing)",
          who, O.describe(k)))
      end
    end
    if (data.points == nil) == (data.grid == nil) then
      raise(who .. ": 'data' needs exactly one of 'points' (particles, nodes) and 'grid' (a 2D or 3D field)")
    end
    local head = '<?xml version="1.0"?>\n<VTKFile type="%s" version="1.0" byte_order="LittleEndian">\n'
    if data.points ~= nil then
      local x = tensor(who, "data.points", data.points)
      local s = x:shape()
      if #s ~= 2 or (s[2] ~= 2 and s[2] ~= 3) or s[1] < 1 then
        raise(string.format("%s: data.points must have shape {n, 2} or {n, 3}, got {%s}", who, table.concat(s, ", ")))
      end
      local n = s[1]
      local lines = ""
      local nl = 0
      if data.lines ~= nil then
        local l = tensor(who, "data.lines", data.lines, "i32")
        local ls = l:shape()
        if #ls ~= 2 or ls[2] ~= 2 then
          raise(string.format("%s: data.lines must have shape {m, 2}, got {%s}", who, table.concat(ls, ", ")))
        end
        local p = ffi.cast("int32_t *", l:data())
        for i = 0, l:numel() - 1 do
          if p[i] < 0 or p[i] >= n then
            raise(string.format("%s: data.lines holds index %d, outside 0..%d (0-based point indices)", who, p[i], n - 1))
          end
        end
        nl = ls[1]
        local offs = {}
        for i = 1, nl do offs[i] = tostring(2 * i) end
        lines = "<Lines>\n" .. array("connectivity", 1, ints(l), "Int32") ..
          array("offsets", 1, table.concat(offs, " "), "Int32") .. "</Lines>\n"
      end
      local conn, offs = {}, {}
      for i = 1, n do conn[i], offs[i] = tostring(i - 1), tostring(i) end
      local text = string.format(head, "PolyData") .. "<PolyData>\n" ..
        string.format('<Piece NumberOfPoints="%d" NumberOfVerts="%d" NumberOfLines="%d" NumberOfStrips="0" NumberOfPolys="0">\n',
          n, n, nl) ..
        "<PointData>\n" .. point_data(who, data.point_data, {n}, n) .. "</PointData>\n" ..
        "<Points>\n" .. array("points", 3, values(x, s[2], 3 - s[2], n)) .. "</Points>\n" ..
        "<Verts>\n" .. array("connectivity", 1, table.concat(conn, " "), "Int32") ..
        array("offsets", 1, table.concat(offs, " "), "Int32") .. "</Verts>\n" .. lines ..
        "</Piece>\n</PolyData>\n</VTKFile>\n"
      return "vtp", text
    end
    local g = tensor(who, "data.grid", data.grid)
    local s = g:shape()
    if (#s ~= 2 and #s ~= 3) or g:numel() == 0 then
      raise(string.format("%s: data.grid must have shape {h, w} or {d, h, w}, got {%s}", who, table.concat(s, ", ")))
    end
    local name = data.name == nil and "value" or xml_name(who, data.name)
    local sp = O.number(who, "spacing", data.spacing, 1, {gt = 0})
    local origin = data.origin or {0, 0, 0}
    if type(origin) ~= "table" or #origin ~= 3 or not (O.finite(origin[1]) and O.finite(origin[2]) and O.finite(origin[3])) then
      raise(who .. ": 'origin' must be a list {x, y, z} of numbers, got " .. O.describe(origin))
    end
    local nx, ny, nz = s[#s], s[#s - 1], #s == 3 and s[1] or 1
    local order
    if #s == 2 then order = function(i) local r, c = math.floor(i / nx), i % nx; return (ny - 1 - r) * nx + c end end
    local ext = string.format("0 %d 0 %d 0 %d", nx - 1, ny - 1, nz - 1)
    local text = string.format(head, "ImageData") ..
      string.format('<ImageData WholeExtent="%s" Origin="%.17g %.17g %.17g" Spacing="%.17g %.17g %.17g">\n', ext,
        origin[1], origin[2], origin[3], sp, sp, sp) ..
      string.format('<Piece Extent="%s">\n<PointData Scalars="%s">\n', ext, name) ..
      array(name, 1, values(g, 1, 0, g:numel(), order)) ..
      point_data(who, data.point_data, s, g:numel(), order) ..
      "</PointData>\n</Piece>\n</ImageData>\n</VTKFile>\n"
    return "vti", text
  end

  function M.write_vtk(path, data)
    local who = "ds.io.write_vtk"
    O.string(who, "path", path)
    local ext, text = render(who, data)
    if path:match("%.([%w]+)$") ~= ext then
      raise(string.format("%s: %s data is written as .%s; argument 'path' is '%s'", who,
        ext == "vtp" and "points" or "grid", ext, path))
    end
    write_file(who, path, text)
  end

  function M.write_vtk_series(path, list, opts)
    local who = "ds.io.write_vtk_series"
    O.string(who, "path", path)
    opts = O.check(who, opts, {"times"})
    local stem = path:match("^(.*)%.pvd$")
    if not stem then raise(who .. ": argument 'path' must end in .pvd, got '" .. path .. "'") end
    if type(list) ~= "table" or getmetatable(list) ~= nil or #list == 0 then
      raise(who .. ": argument 'list' must be a non-empty list of data tables, got " .. O.describe(list))
    end
    local times = opts.times
    if times ~= nil then
      if type(times) ~= "table" or #times ~= #list then
        raise(string.format("%s: option 'times' must be a list of %d numbers (one per entry), got %s", who, #list,
          O.describe(times)))
      end
      for i = 1, #list do O.number(who, "times[" .. i .. "]", times[i]) end
    end
    local base = stem:match("([^/]*)$")
    local entries, files = {}, {}
    for i = 1, #list do
      local ext, text = render(who .. " (entry " .. i .. ")", list[i])
      local name = string.format("%s_%04d.%s", base, i - 1, ext)
      write_file(who, string.format("%s_%04d.%s", stem, i - 1, ext), text)
      files[i] = name
      entries[i] = string.format('<DataSet timestep="%.10g" group="" part="0" file="%s"/>', times and times[i] or i - 1,
        name)
    end
    write_file(who, path, '<?xml version="1.0"?>\n<VTKFile type="Collection" version="1.0" byte_order="LittleEndian">\n' ..
      "<Collection>\n" .. table.concat(entries, "\n") .. "\n</Collection>\n</VTKFile>\n")
    return files
  end
  return M
end

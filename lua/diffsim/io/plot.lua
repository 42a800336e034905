-- Plots through PLplot (core/src/plot.c, cairo devices): real type, titles,
-- axis labels, legends, log axes, colour bars. PNG or SVG, no display needed.
--
--   ds.io.plot(path, series [, opts])       PNG or SVG by the path's extension
--   ds.io.plot_png(path, series [, opts])   always PNG (whatever the extension)
--     series: a list of numbers or a 1-D tensor (one curve, x = 1..n), or a list
--     of them (one curve each), or a list of {x =, y =, label =} tables.
--     opts: title, xlabel, ylabel (strings; units in the label, e.g. "time (s)"),
--     labels (one legend name per series), x (shared x values), log / logy
--     (log10 y axis), logx, grid (default true), width (100..4096, default
--     640), height (60..4096, default 400). A log axis is labelled 10^n and its
--     label gets " (log scale)". legend: where the legend goes ("top-right"
--     (default), "top-left", "bottom-right", "bottom-left", "right", "left"). Non-finite points, and points <= 0 on a log
--     axis, are not drawn: the line breaks there.
--   ds.io.plot_field(path, t [, opts])      2D field {h, w} as an image plot
--   ds.io.field_png(path, t [, opts])       always PNG
--     opts: range = {lo, hi} | auto = true (min..max, the default) | symmetric =
--     true (-m..m, m = max |t|, diverging map); cmap = "viridis" | "diverging" |
--     "grey" (default: diverging when symmetric, else viridis); colorbar
--     (default true); label (the colour bar's name, with units); title, xlabel,
--     ylabel; width, height (default 560 x 480).
-- Unknown options are errors; every error names the function and the argument.
local ffi = require("ffi")

return function(ds)
  local C, ctx = ds.C, ds.ctx
  local O = require("diffsim.options").install(ds)
  local raise = O.raise
  local M = {}

  local function as_list(who, s, name)
    if ds.is_tensor(s) then
      if s.ptr == nil then raise(who .. ": " .. name .. " has been freed") end
      if #s:shape() ~= 1 then raise(who .. ": " .. name .. " must be a 1-D tensor, got {" ..
        table.concat(s:shape(), ", ") .. "}") end
      if s:dtype_name() ~= "real" then raise(who .. ": " .. name .. " must be a real tensor, got an " ..
        s:dtype_name() .. " tensor") end
      return s:tolist()
    end
    if type(s) ~= "table" or getmetatable(s) ~= nil then
      raise(string.format("%s: %s must be a list of numbers, got %s", who, name, O.describe(s)))
    end
    local n = #s
    for k, v in pairs(s) do
      if type(k) ~= "number" or k < 1 or k > n or k ~= math.floor(k) then
        raise(string.format("%s: %s must be a list of numbers (keys 1..%d), got key %s", who, name, n, O.describe(k)))
      end
      if type(v) ~= "number" then
        raise(string.format("%s: %s[%d] must be a number, got %s", who, name, k, O.describe(v)))
      end
    end
    return s
  end

  local function opt_string(who, name, v)
    if v ~= nil and type(v) ~= "string" then
      raise(string.format("%s: option '%s' must be a string, got %s", who, name, O.describe(v)))
    end
    return v
  end

  -- The format from the path's extension (plot, plot_field) or forced.
  local function format_of(who, path, forced)
    if forced then return forced end
    local ext = path:match("%.([%w]+)$")
    ext = ext and ext:lower()
    if ext ~= "png" and ext ~= "svg" then
      raise(string.format("%s: argument 'path' must end in .png or .svg, got '%s'", who, path))
    end
    return ext
  end

  local function check_dest(who, path)
    local f, err = io.open(path, "ab")
    if not f then raise(string.format("%s: cannot write '%s': %s", who, path,
      tostring(err):match(":%s*([^:]+)$") or tostring(err))) end
    f:close()
  end

  local LINE_OPTS = {"log", "logx", "logy", "title", "xlabel", "ylabel", "labels", "x", "grid", "width", "height",
                     "legend"}
  local LEGEND = {["top-right"] = 0, ["top-left"] = 16, ["bottom-right"] = 8, ["bottom-left"] = 24, right = 32,
                  left = 48}
  local function lines(who, path, series, opts, forced)
    O.string(who, "path", path)
    opts = O.check(who, opts, LINE_OPTS)
    local fmt = format_of(who, path, forced)
    local logy = O.boolean(who, "log", opts.log, false)
    logy = O.boolean(who, "logy", opts.logy, logy)
    local logx = O.boolean(who, "logx", opts.logx, false)
    local grid = O.boolean(who, "grid", opts.grid, true)
    local legend = LEGEND[O.choice(who, "legend", opts.legend, "top-right",
      {"top-right", "top-left", "bottom-right", "bottom-left", "right", "left"})]
    local W = O.number(who, "width", opts.width, 640, {int = true, ge = 100, le = 4096})
    local H = O.number(who, "height", opts.height, 400, {int = true, ge = 60, le = 4096})
    local title, xlabel, ylabel = opt_string(who, "title", opts.title), opt_string(who, "xlabel", opts.xlabel),
      opt_string(who, "ylabel", opts.ylabel)
    if not ds.is_tensor(series) and (type(series) ~= "table" or getmetatable(series) ~= nil) then
      raise(who .. ": argument 'series' must be a list of numbers or a list of such lists, got " .. O.describe(series))
    end
    -- normalise to {{x =, y =, label =}, ...}
    local list = {}
    if ds.is_tensor(series) or type(series[1]) == "number" or (next(series) == nil) then
      if not ds.is_tensor(series) and next(series) == nil then raise(who .. ": argument 'series' is empty: nothing to plot") end
      list[1] = {y = as_list(who, series, "series")}
    else
      for k in pairs(series) do
        if type(k) ~= "number" or k < 1 or k > #series or k ~= math.floor(k) then
          raise(string.format("%s: argument 'series' must be a list (keys 1..%d), got key %s", who, #series,
            O.describe(k)))
        end
      end
      for i = 1, #series do
        local s = series[i]
        local name = "series[" .. i .. "]"
        if type(s) == "table" and getmetatable(s) == nil and s.y ~= nil then
          for k in pairs(s) do
            if k ~= "x" and k ~= "y" and k ~= "label" then
              raise(string.format("%s: %s has an unknown key %s (valid: x, y, label)", who, name, O.describe(k)))
            end
          end
          list[i] = {y = as_list(who, s.y, name .. ".y"), x = s.x ~= nil and as_list(who, s.x, name .. ".x") or nil,
                     label = opt_string(who, name .. ".label", s.label)}
        else
          list[i] = {y = as_list(who, s, name)}
        end
      end
    end
    if #list > 64 then raise(string.format("%s: at most 64 series, got %d", who, #list)) end
    local shared = opts.x ~= nil and as_list(who, opts.x, "option 'x'") or nil
    if opts.labels ~= nil then
      local l = opts.labels
      if type(l) ~= "table" or getmetatable(l) ~= nil or #l ~= #list then
        raise(string.format("%s: option 'labels' must be a list of %d strings (one per series), got %s", who, #list,
          type(l) == "table" and getmetatable(l) == nil and (#l .. " entries") or O.describe(l)))
      end
      for i = 1, #list do
        if type(l[i]) ~= "string" then
          raise(string.format("%s: labels[%d] must be a string, got %s", who, i, O.describe(l[i])))
        end
        list[i].label = list[i].label or l[i]
      end
    end
    local total = 0
    for i, s in ipairs(list) do
      local x = s.x or shared
      if x and #x ~= #s.y then
        raise(string.format("%s: series[%d] has %d y values and %d x values", who, i, #s.y, #x))
      end
      total = total + #s.y
    end
    check_dest(who, path)
    local xs, ys = ffi.new("double[?]", math.max(total, 1)), ffi.new("double[?]", math.max(total, 1))
    local offs = ffi.new("int64_t[?]", #list + 1)
    local labels = ffi.new("const char *[?]", #list)
    local keep = {}
    local k = 0
    for i, s in ipairs(list) do
      offs[i - 1] = k
      local x = s.x or shared
      for j = 1, #s.y do
        xs[k], ys[k] = x and x[j] or j, s.y[j]
        k = k + 1
      end
      if s.label then keep[i] = s.label; labels[i - 1] = s.label end
    end
    offs[#list] = k
    local flags = (logx and C.DS_PLOT_XLOG or 0) + (logy and C.DS_PLOT_YLOG or 0) + (grid and C.DS_PLOT_GRID or 0) + legend
    if logx then xlabel = (xlabel or "") .. " (log scale)" end
    if logy then ylabel = (ylabel or "") .. " (log scale)" end
    if C.ds_plot_lines(ctx, path, fmt, W, H, title, xlabel, ylabel, flags, #list, offs, xs, ys, labels) ~= 0 then
      raise(who .. ": " .. ffi.string(C.ds_last_error(ctx)))
    end
    return keep
  end

  function M.plot(path, series, opts) lines("ds.io.plot", path, series, opts) end
  function M.plot_png(path, series, opts) lines("ds.io.plot_png", path, series, opts, "png") end

  local CMAPS = {viridis = 0, diverging = 1, grey = 2}
  local FIELD_OPTS = {"range", "auto", "symmetric", "cmap", "colorbar", "label", "title", "xlabel", "ylabel", "width",
                      "height"}
  local function field(who, path, t, opts, forced)
    O.string(who, "path", path)
    opts = O.check(who, opts, FIELD_OPTS)
    local fmt = format_of(who, path, forced)
    if not ds.is_tensor(t) then raise(string.format("%s: argument 't' must be a tensor, got %s", who, O.describe(t))) end
    if t.ptr == nil then raise(who .. ": argument 't' has been freed") end
    local s = t:shape()
    if t:dtype_name() ~= "real" then raise(who .. ": argument 't' must be a real tensor, got an " .. t:dtype_name() ..
      " tensor") end
    if #s ~= 2 then raise(string.format("%s: argument 't' must have shape {h, w}, got {%s}", who, table.concat(s, ", "))) end
    local nmaps = (opts.range ~= nil and 1 or 0) + (opts.auto and 1 or 0) + (opts.symmetric and 1 or 0)
    if nmaps > 1 then raise(who .. ": options 'range', 'auto' and 'symmetric' exclude each other") end
    O.boolean(who, "auto", opts.auto, false)
    local sym = O.boolean(who, "symmetric", opts.symmetric, false)
    local bar = O.boolean(who, "colorbar", opts.colorbar, true)
    local cmap = O.choice(who, "cmap", opts.cmap, sym and "diverging" or "viridis", {"viridis", "diverging", "grey"})
    local W = O.number(who, "width", opts.width, 560, {int = true, ge = 100, le = 4096})
    local H = O.number(who, "height", opts.height, 480, {int = true, ge = 60, le = 4096})
    local label = opt_string(who, "label", opts.label)
    local title, xlabel, ylabel = opt_string(who, "title", opts.title), opt_string(who, "xlabel", opts.xlabel),
      opt_string(who, "ylabel", opts.ylabel)
    local lo, hi
    if opts.range ~= nil then
      local r = opts.range
      if type(r) ~= "table" or getmetatable(r) ~= nil or #r ~= 2 or not O.finite(r[1]) or not O.finite(r[2]) or
         not (r[1] < r[2]) then
        raise(who .. ": option 'range' must be a list {lo, hi} of finite numbers with lo < hi, got " ..
          O.describe(r))
      end
      lo, hi = r[1], r[2]
    else
      if t:numel() == 0 then raise(who .. ": argument 't' is empty") end
      local a, b = ds.io.range(t)
      if not (O.finite(a) and O.finite(b)) then
        raise(who .. ": argument 't' holds no finite range (NaN or Inf); give option 'range'")
      end
      if sym then
        local m = math.max(math.abs(a), math.abs(b), 1e-30)
        lo, hi = -m, m
      else
        lo, hi = a, b
        if hi <= lo then lo, hi = lo - 0.5, hi + 0.5 end -- a constant field
      end
    end
    check_dest(who, path)
    local src = t.device == "cpu" and t or t:to("cpu")
    if C.ds_plot_field(ctx, path, fmt, W, H, src.p, lo, hi, CMAPS[cmap], title, xlabel, ylabel,
      bar and (label or "") or nil) ~= 0 then
      raise(who .. ": " .. ffi.string(C.ds_last_error(ctx)))
    end
  end
  function M.plot_field(path, t, opts) field("ds.io.plot_field", path, t, opts) end
  function M.field_png(path, t, opts) field("ds.io.field_png", path, t, opts, "png") end

  -- Draws text into an image tensor in place ({h, w} or {h, w, 3}, CPU):
  --   ds.io.draw_text(img, "step 10", {x = 4, y = 4, size = 14, color = {1, 1, 1}})
  local TEXT_OPTS = {"x", "y", "size", "color"}
  function M.draw_text(img, text, opts)
    local who = "ds.io.draw_text"
    if not ds.is_tensor(img) then raise(who .. ": argument 'img' must be a tensor, got " .. O.describe(img)) end
    if img.ptr == nil then raise(who .. ": argument 'img' has been freed") end
    if type(text) ~= "string" then raise(who .. ": argument 'text' must be a string, got " .. O.describe(text)) end
    opts = O.check(who, opts, TEXT_OPTS)
    local s = img:shape()
    if img.device ~= "cpu" then raise(who .. ": argument 'img' must be on the cpu, got " .. img.device) end
    if img:dtype_name() ~= "real" or not (#s == 2 or (#s == 3 and s[3] == 3)) then
      raise(string.format("%s: argument 'img' must be a real tensor {h, w} or {h, w, 3}, got %s {%s}", who,
        img:dtype_name(), table.concat(s, ", ")))
    end
    local size = O.number(who, "size", opts.size, math.max(10, math.min(20, math.floor(s[1] / 14))), {ge = 4, le = 1000})
    local x = O.number(who, "x", opts.x, 3)
    local y = O.number(who, "y", opts.y, 3)
    local c = opts.color or {1, 1, 1}
    if type(c) ~= "table" or #c ~= 3 or not (O.finite(c[1]) and O.finite(c[2]) and O.finite(c[3])) then
      raise(who .. ": option 'color' must be a list {r, g, b} of numbers in [0, 1], got " .. O.describe(c))
    end
    if C.ds_image_text(ctx, img.p, text, x, y, size, c[1], c[2], c[3]) ~= 0 then
      raise(who .. ": " .. ffi.string(C.ds_last_error(ctx)))
    end
    return img
  end
  return M
end

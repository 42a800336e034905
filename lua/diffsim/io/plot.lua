-- A line plot rendered to PNG with no dependencies: white canvas, axes, one
-- colour per series, and the y range printed with a tiny built-in digit font.
--   ds.io.plot_png("loss.png", {{1.0, 0.5, 0.2, ...}, {...}}, {log = true, width = 640, height = 400})
-- series: one list of numbers, or a list of them (a 1-D tensor counts as a list).
-- Non-finite values (NaN, +-Inf), and values <= 0 on a log scale, are not
-- drawn: the line breaks there. Options: log (boolean), width (100..4096),
-- height (60..4096); anything else is an error.
local ffi = require("ffi")

-- 3x5 glyphs for digits and a few symbols, one row per string, '#' = ink.
local GLYPHS = {
  ["0"] = {"###", "# #", "# #", "# #", "###"}, ["1"] = {" # ", "## ", " # ", " # ", "###"},
  ["2"] = {"###", "  #", "###", "#  ", "###"}, ["3"] = {"###", "  #", "###", "  #", "###"},
  ["4"] = {"# #", "# #", "###", "  #", "  #"}, ["5"] = {"###", "#  ", "###", "  #", "###"},
  ["6"] = {"###", "#  ", "###", "# #", "###"}, ["7"] = {"###", "  #", "  #", "  #", "  #"},
  ["8"] = {"###", "# #", "###", "# #", "###"}, ["9"] = {"###", "# #", "###", "  #", "###"},
  ["."] = {"   ", "   ", "   ", "   ", " # "}, ["-"] = {"   ", "   ", "###", "   ", "   "},
  ["e"] = {"   ", "###", "# #", "## ", "###"}, ["+"] = {"   ", " # ", "###", " # ", "   "},
}
local COLORS = {{0.12, 0.47, 0.71}, {0.84, 0.15, 0.16}, {0.17, 0.63, 0.17}, {1.0, 0.5, 0.05}, {0.58, 0.4, 0.74}}

return function(ds)
  local O = require("diffsim.options").install(ds)
  local raise = O.raise
  local PLOT_OPTS = {"log", "width", "height"}
  local who = "ds.io.plot_png"
  -- A series as a plain list of numbers.
  local function as_list(s, name)
    if ds.is_tensor(s) then
      if rawget(s, "p") == nil then raise(who .. ": " .. name .. " has been freed") end
      if #s:shape() ~= 1 then raise(who .. ": " .. name .. " must be a 1-D tensor, got {" ..
        table.concat(s:shape(), ", ") .. "}") end
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
  return function(path, series, opts)
    O.string(who, "path", path)
    opts = O.check(who, opts, PLOT_OPTS)
    O.boolean(who, "log", opts.log, false)
    local W = O.number(who, "width", opts.width, 640, {int = true, ge = 100, le = 4096})
    local H = O.number(who, "height", opts.height, 400, {int = true, ge = 60, le = 4096})
    if type(series) ~= "table" or (getmetatable(series) ~= nil and not ds.is_tensor(series)) then
      raise(who .. ": argument 'series' must be a list of numbers or a list of such lists, got " .. O.describe(series))
    end
    if ds.is_tensor(series) or type(series[1]) == "number" then
      series = {as_list(series, "series")}
    else
      if #series == 0 then raise(who .. ": argument 'series' is empty: nothing to plot") end
      local list = {}
      for i = 1, #series do list[i] = as_list(series[i], "series[" .. i .. "]") end
      series = list
    end
    local f, err = io.open(path, "ab")
    if not f then raise(string.format("%s: cannot write '%s': %s", who, path, tostring(err):match(":%s*([^:]+)$") or
      tostring(err))) end
    f:close()
    local img = ds.ones({H, W, 3})
    local px = img:data()
    local function put(x, y, c)
      if x >= 0 and x < W and y >= 0 and y < H then
        local k = (y * W + x) * 3
        px[k], px[k + 1], px[k + 2] = c[1], c[2], c[3]
      end
    end
    local function tf(v) return opts.log and math.log10(math.max(v, 1e-300)) or v end
    local lo, hi, n = math.huge, -math.huge, 0
    for _, s in ipairs(series) do
      n = math.max(n, #s)
      for _, v in ipairs(s) do
        if v == v and math.abs(v) ~= math.huge and (not opts.log or v > 0) then
          lo, hi = math.min(lo, tf(v)), math.max(hi, tf(v))
        end
      end
    end
    if lo > hi then lo, hi = 0, 1 end
    if hi - lo < 1e-12 then lo, hi = lo - 0.5, hi + 0.5 end
    local L, R, T, B = 60, W - 15, 15, H - 30
    local black = {0, 0, 0}
    for x = L, R do put(x, B, black); put(x, T, {0.8, 0.8, 0.8}) end
    for y = T, B do put(L, y, black); put(R, y, {0.8, 0.8, 0.8}) end
    local function text(str, x0, y0)
      for i = 1, #str do
        local g = GLYPHS[str:sub(i, i)]
        if g then
          for r = 1, 5 do
            for c = 1, 3 do
              if g[r]:sub(c, c) == "#" then
                for dy = 0, 1 do for dx = 0, 1 do put(x0 + (i - 1) * 8 + (c - 1) * 2 + dx, y0 + (r - 1) * 2 + dy, black) end end
              end
            end
          end
        end
      end
    end
    local function label(v) return opts.log and string.format("%.1e", 10 ^ v) or string.format("%.3g", v) end
    text(label(hi), 2, T)
    text(label(lo), 2, B - 10)
    text(tostring(n), R - 8 * #tostring(n), B + 8)
    text("1", L, B + 8)
    for si, s in ipairs(series) do
      local c = COLORS[(si - 1) % #COLORS + 1]
      local px0, py0
      for i, v in ipairs(s) do
        if v == v and (not opts.log or v > 0) and math.abs(v) ~= math.huge then
          local x = L + math.floor((i - 1) / math.max(1, n - 1) * (R - L) + 0.5)
          local y = B - math.floor((tf(v) - lo) / (hi - lo) * (B - T) + 0.5)
          if px0 then
            local steps = math.max(math.abs(x - px0), math.abs(y - py0), 1)
            for k = 0, steps do
              local xx = px0 + math.floor((x - px0) * k / steps + 0.5)
              local yy = py0 + math.floor((y - py0) * k / steps + 0.5)
              put(xx, yy, c); put(xx, yy + 1, c)
            end
          else
            put(x, y, c)
          end
          px0, py0 = x, y
        else
          px0, py0 = nil, nil -- not drawn: the line breaks here
        end
      end
    end
    img:touch()
    ds.io.write_png(path, img)
  end
end

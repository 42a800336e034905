-- A line plot rendered to PNG with no dependencies: white canvas, axes, one
-- colour per series, and the y range printed with a tiny built-in digit font.
--   ds.io.plot_png("loss.png", {{1.0, 0.5, 0.2, ...}, {...}}, {log = true, width = 640, height = 400})
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
  return function(path, series, opts)
    opts = opts or {}
    if type(series) ~= "table" or #series == 0 then error("ds.io.plot_png: expected a list of series", 2) end
    if type(series[1]) == "number" then series = {series} end
    local W, H = opts.width or 640, opts.height or 400
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
        end
      end
    end
    img:touch()
    ds.io.write_png(path, img)
  end
end

-- A line plot as SVG text with a title and labelled axes (ds.io.plot_png has no
-- text beyond numbers). Used by scripts/billiards_scan.lua and rigid_body_discontinuity.lua.
--   require("plugins.rigid2d.svg_plot").write(path, xs, {ys1, ys2}, {title =, xlabel =, ylabel =, names = {...}})
local M = {}

local function nice(v) return string.format("%.3g", v) end

function M.write(path, xs, series, o)
  local W, H, L, Rm, T, B = 640, 400, 80, 20, 40, 60
  local xmin, xmax, ymin, ymax = math.huge, -math.huge, math.huge, -math.huge
  for _, x in ipairs(xs) do xmin, xmax = math.min(xmin, x), math.max(xmax, x) end
  for _, ys in ipairs(series) do
    for _, y in ipairs(ys) do if y == y then ymin, ymax = math.min(ymin, y), math.max(ymax, y) end end
  end
  if ymax <= ymin then ymax = ymin + 1 end
  if xmax <= xmin then xmax = xmin + 1 end
  local function px(x) return L + (x - xmin) / (xmax - xmin) * (W - L - Rm) end
  local function py(y) return H - B - (y - ymin) / (ymax - ymin) * (H - T - B) end
  local colors = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e"}
  local out = {string.format('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif">', W, H),
               string.format('<rect width="%d" height="%d" fill="white"/>', W, H),
               string.format('<text x="%d" y="24" text-anchor="middle" font-size="16">%s</text>', W / 2, o.title or ""),
               string.format('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>', L, H - B, W - Rm, H - B),
               string.format('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>', L, T, L, H - B),
               string.format('<text x="%d" y="%d" text-anchor="middle" font-size="14">%s</text>', (L + W - Rm) / 2, H - 15,
                 o.xlabel or "x"),
               string.format('<text x="18" y="%d" text-anchor="middle" font-size="14" transform="rotate(-90 18 %d)">%s</text>',
                 (T + H - B) / 2, (T + H - B) / 2, o.ylabel or "y")}
  for k = 0, 4 do
    local x, y = xmin + k * (xmax - xmin) / 4, ymin + k * (ymax - ymin) / 4
    out[#out + 1] = string.format('<text x="%.1f" y="%d" text-anchor="middle" font-size="11">%s</text>', px(x), H - B + 16, nice(x))
    out[#out + 1] = string.format('<text x="%d" y="%.1f" text-anchor="end" font-size="11">%s</text>', L - 6, py(y) + 4, nice(y))
  end
  for s, ys in ipairs(series) do
    local pts = {}
    for i, y in ipairs(ys) do if y == y then pts[#pts + 1] = string.format("%.2f,%.2f", px(xs[i]), py(y)) end end
    out[#out + 1] = string.format('<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>', colors[(s - 1) % 4 + 1],
      table.concat(pts, " "))
    if o.names and o.names[s] then
      out[#out + 1] = string.format('<text x="%d" y="%d" font-size="12" fill="%s">%s</text>', W - Rm - 200, T + 16 * s,
        colors[(s - 1) % 4 + 1], o.names[s])
    end
  end
  out[#out + 1] = "</svg>"
  local f = assert(io.open(path, "w"))
  f:write(table.concat(out, "\n"), "\n")
  f:close()
end

return M

-- Closed test surfaces for the fem meshing specs (0-based face lists, as fem takes them; outward).
local M = {}

function M.cube()
  local V = {}
  for i = 0, 7 do V[#V + 1] = {i % 2, math.floor(i / 2) % 2, math.floor(i / 4)} end
  local F = {{0, 2, 1}, {1, 2, 3}, {4, 5, 6}, {5, 7, 6}, {0, 1, 4}, {1, 5, 4}, {2, 6, 3}, {3, 6, 7}, {0, 4, 2},
             {2, 4, 6}, {1, 3, 5}, {3, 7, 5}}
  return V, F
end

-- An icosahedron subdivided `levels` times onto the unit sphere (outward).
function M.sphere(levels)
  local t = (1 + math.sqrt(5)) / 2
  local V = {{-1, t, 0}, {1, t, 0}, {-1, -t, 0}, {1, -t, 0}, {0, -1, t}, {0, 1, t}, {0, -1, -t}, {0, 1, -t},
             {t, 0, -1}, {t, 0, 1}, {-t, 0, -1}, {-t, 0, 1}}
  local F = {{1, 12, 6}, {1, 6, 2}, {1, 2, 8}, {1, 8, 11}, {1, 11, 12}, {2, 6, 10}, {6, 12, 5}, {12, 11, 3},
             {11, 8, 7}, {8, 2, 9}, {4, 10, 5}, {4, 5, 3}, {4, 3, 7}, {4, 7, 9}, {4, 9, 10}, {5, 10, 6}, {3, 5, 12},
             {7, 3, 11}, {9, 7, 8}, {10, 9, 2}}
  local function norm(p)
    local l = math.sqrt(p[1] ^ 2 + p[2] ^ 2 + p[3] ^ 2)
    return {p[1] / l, p[2] / l, p[3] / l}
  end
  for i, p in ipairs(V) do V[i] = norm(p) end
  for _ = 1, levels do
    local mid, G = {}, {}
    local function m(a, b)
      local k = math.min(a, b) .. "_" .. math.max(a, b)
      if not mid[k] then
        V[#V + 1] = norm({(V[a][1] + V[b][1]) / 2, (V[a][2] + V[b][2]) / 2, (V[a][3] + V[b][3]) / 2})
        mid[k] = #V
      end
      return mid[k]
    end
    for _, f in ipairs(F) do
      local a, b, c = m(f[1], f[2]), m(f[2], f[3]), m(f[3], f[1])
      G[#G + 1] = {f[1], a, c}
      G[#G + 1] = {f[2], b, a}
      G[#G + 1] = {f[3], c, b}
      G[#G + 1] = {a, b, c}
    end
    F = G
  end
  for _, f in ipairs(F) do for k = 1, 3 do f[k] = f[k] - 1 end end -- built 1-based above
  return V, F
end

-- Enclosed volume of a closed outward surface (divergence theorem).
function M.enclosed(V, F)
  local s = 0
  for _, f in ipairs(F) do
    local a, b, c = V[f[1] + 1], V[f[2] + 1], V[f[3] + 1]
    s = s + (a[1] * (b[2] * c[3] - b[3] * c[2]) - a[2] * (b[1] * c[3] - b[3] * c[1]) + a[3] * (b[1] * c[2] - b[2] * c[1])) / 6
  end
  return s
end

return M

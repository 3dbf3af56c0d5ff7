-- wrk script: every request carries its own pre-minted access token (one user each).
-- Usage: wrk -t<T> ... -s request.lua <url> -- <tokens file> <METHOD> <T> [<first token>]
-- Thread i sends tokens first+i, first+i+T, ... (wrapping to the start of the file), so a
-- warm-up started at the file's middle signs up other users than the run started at 0.
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  tokens = {}
  for line in io.lines(args[1]) do
    tokens[#tokens + 1] = line
  end
  method = args[2] or "GET"
  step = tonumber(args[3] or 1)
  index = tonumber(args[4] or 0) + tonumber(id) + 1
end

function request()
  local token = tokens[index]
  index = index + step
  if index > #tokens then
    index = tonumber(id) + 1
  end
  return wrk.format(method, nil, { ["Authorization"] = "Bearer " .. token }, nil)
end

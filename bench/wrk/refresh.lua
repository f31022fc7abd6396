-- Refresh-token rotation: every request spends one pre-minted refresh token (a token is
-- single-use, so a reused one would be refused and counted as an error).
local tokens = {}
local next_token = 0
local headers = {
  ["Content-Type"] = "application/x-www-form-urlencoded",
  ["Authorization"] = os.getenv("BENCH_AUTH"),
}

function init(args)
  for line in io.lines(os.getenv("BENCH_TOKENS")) do
    tokens[#tokens + 1] = line
  end
end

function request()
  next_token = next_token + 1
  local token = tokens[next_token] or "pool-exhausted"
  return wrk.format("POST", nil, headers, "grant_type=refresh_token&refresh_token=" .. token)
end

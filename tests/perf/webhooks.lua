-- wrk script: POST distinct pre-signed Stripe events, each thread taking its own share of the lines.
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  lines = {}
  for line in io.lines(args[1]) do
    lines[#lines + 1] = line
  end
  step = tonumber(args[2])
  index = id + 1
end

function request()
  local line = lines[index]
  index = index + step
  if line == nil then
    -- Out of fresh events: wrap around (these repeats are answered as duplicates, still 200).
    index = id + 1
    line = lines[index]
  end
  local signature, body = line:match("([^\t]*)\t(.*)")
  return wrk.format("POST", "/webhooks/stripe",
                    {["Stripe-Signature"] = signature, ["Content-Type"] = "application/json"}, body)
end

-- wrk script: every request is a share-form lead from a phone number no other request of
-- the run uses (E.164, +86138 and 8 digits), for the referral codes of a file in turn.
-- Usage: wrk -t<T> ... -s lead.lua <url> -- <codes file> <T> <first number>
-- Thread i sends numbers first+i, first+i+T, ...: a warm-up started at another first number
-- never repeats the run's phones.
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  codes = {}
  for line in io.lines(args[1]) do
    codes[#codes + 1] = line
  end
  step = tonumber(args[2])
  number = tonumber(args[3]) + tonumber(id)
end

function request()
  local phone = string.format("+86138%08d", number)
  local code = codes[number % #codes + 1]
  number = number + step
  local body = string.format(
    '{"code":"%s","name":"Bench Lead","phone":"%s","city":"Shanghai",'
      .. '"consent":true,"test_drive_requested":false}',
    code,
    phone
  )
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, body)
end

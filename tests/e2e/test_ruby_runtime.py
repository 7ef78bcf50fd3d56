"""ruby3.* functions on Nimbus's Ruby bootstrap, run on the host's Ruby: both handler
forms, the context object, Lambda's Ruby error shapes and logging."""
import base64
import json

from conftest import create, invoke, unique

APP_RB = '''
require 'logger'
INITS = [0]
INITS[0] += 1
LOGGER = Logger.new($stdout)

def lambda_handler(event:, context:)
  puts "ruby got #{event['name']}"
  LOGGER.info("logged with Logger")
  {
    'hello' => event['name'],
    'event' => event,
    'inits' => INITS[0],
    'request_id' => context.aws_request_id,
    'function_name' => context.function_name,
    'function_version' => context.function_version,
    'arn' => context.invoked_function_arn,
    'memory' => context.memory_limit_in_mb,
    'log_group' => context.log_group_name,
    'log_stream' => context.log_stream_name,
    'remaining' => context.get_remaining_time_in_millis,
    'client_context' => context.client_context,
    'ruby' => RUBY_VERSION,
    'trace' => ENV['_X_AMZN_TRACE_ID'],
  }
end

def fails(event:, context:)
  raise ArgumentError, 'ruby broke'
end

def plain(event:, context:)
  "text #{event}"
end

def sized(event:, context:)
  { 'inits' => INITS[0], 'pid' => Process.pid, 'pad' => 'x' * event['size'] }
end

module Shop
  class Cart
    def self.total(event:, context:)
      event['items'].sum { |i| i['price'] * i['qty'] }
    end
  end
end
'''


def test_ruby_handler_context_and_logging(nimbus, lam):
    name = unique("ruby")
    create(lam, name, {"app.rb": APP_RB}, runtime="ruby3.3", handler="app.lambda_handler", MemorySize=256)
    ctx = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()
    resp = invoke(lam, name, {"name": "matz", "n": [1, 2.5, None, True]}, LogType="Tail", ClientContext=ctx)
    assert "FunctionError" not in resp, resp["Body"]
    b = resp["Body"]
    assert b["hello"] == "matz" and b["event"] == {"name": "matz", "n": [1, 2.5, None, True]}
    assert b["request_id"] == resp["ResponseMetadata"]["RequestId"]
    assert b["function_name"] == name and b["function_version"] == "$LATEST"
    assert b["arn"].endswith(f":function:{name}") and b["memory"] == "256"
    assert b["log_group"] == f"/aws/lambda/{name}" and "[$LATEST]" in b["log_stream"]
    assert 0 < b["remaining"] <= 3000
    assert b["client_context"]["custom"] == {"k": "v"}
    assert b["trace"].startswith("Root=1-")
    tail = base64.b64decode(resp["LogResult"]).decode()
    assert "ruby got matz" in tail and "logged with Logger" in tail
    again = invoke(lam, name, {"name": "x"})["Body"]
    assert again["inits"] == 1, "the file loads once per environment"
    if not b["ruby"].startswith("3.3"):
        assert "function runtime ruby3.3 runs on this host's Ruby" in nimbus.logs(name).stdout


def test_ruby_class_method_handler_and_scalars(lam):
    name = unique("ruby-class")
    create(lam, name, {"app.rb": APP_RB}, runtime="ruby3.4", handler="app.Shop::Cart.total")
    assert invoke(lam, name, {"items": [{"price": 2, "qty": 3}, {"price": 1.5, "qty": 2}]})["Body"] == 9.0
    plain = unique("ruby-plain")
    create(lam, plain, {"app.rb": APP_RB}, runtime="ruby3.2", handler="app.plain")
    assert invoke(lam, plain, "hi")["Body"] == "text hi"


def test_ruby_error_shapes(lam):
    name = unique("ruby-fails")
    create(lam, name, {"app.rb": APP_RB}, runtime="ruby3.3", handler="app.fails")
    resp = invoke(lam, name, {}, LogType="Tail")
    assert resp["FunctionError"] == "Unhandled"
    err = resp["Body"]
    assert err["errorType"] == "Function<ArgumentError>" and err["errorMessage"] == "ruby broke"
    assert any("app.rb:" in f and "fails" in f for f in err["stackTrace"])
    assert not any("bootstrap.rb" in f for f in err["stackTrace"])
    assert "ruby broke" in base64.b64decode(resp["LogResult"]).decode()

    missing = unique("ruby-missing")
    create(lam, missing, {"app.rb": "require 'no_such_gem'\n"}, runtime="ruby3.3", handler="app.handler")
    err = invoke(lam, missing, {})["Body"]
    assert err["errorType"] == "Init<LoadError>" and "no_such_gem" in err["errorMessage"]

    nomethod = unique("ruby-nomethod")
    create(lam, nomethod, {"app.rb": APP_RB}, runtime="ruby3.3", handler="app.nothing_here")
    err = invoke(lam, nomethod, {})["Body"]
    assert err["errorType"] == "Init<NoMethodError>" and "nothing_here" in err["errorMessage"]

    bad = unique("ruby-badhandler")
    create(lam, bad, {"app.rb": APP_RB}, runtime="ruby3.3", handler="app")
    err = invoke(lam, bad, {})["Body"]
    assert err["errorType"] == "Init<ArgumentError>" and "Invalid handler app" in err["errorMessage"]


def test_ruby_refused_response_leaves_the_runtime_serving(lam):
    name = unique("ruby-sized")
    create(lam, name, {"app.rb": APP_RB}, runtime="ruby3.3", handler="app.sized", MemorySize=512, Timeout=30)
    first = invoke(lam, name, {"size": 1})["Body"]
    big = invoke(lam, name, {"size": 7 * 1024 * 1024})
    assert big["FunctionError"] == "Unhandled" and big["Body"]["errorType"] == "Function.ResponseSizeTooLarge"
    after = invoke(lam, name, {"size": 2})["Body"]
    assert after["pid"] == first["pid"] and after["pad"] == "xx", "the same process serves the next event"

# frozen_string_literal: true

# Nimbus's Ruby runtime: the client side of the Lambda Runtime API (2018-06-01) for
# ruby3.* functions, run on the host's Ruby as `ruby --disable-gems bootstrap.rb` with
# the usual Lambda environment. RubyGems loads only when the function brings gems
# (vendor/bundle, a layer's ruby/gems, or a GEM_PATH), which keeps cold starts short.
#
# Handlers are `file.method` (a method defined at the top level of file.rb) or
# `file.Module::Class.method`; each is called as `handler(event:, context:)`. Errors
# answer Lambda's Ruby shape: `errorType` "Function<NameError>" for an exception the
# handler raised, "Init<LoadError>" for one raised while loading it.

require 'json'
require 'socket'

module NimbusLambda
  API_PREFIX = '/2018-06-01/runtime'

  # HTTP/1.1 to the Runtime API over one kept-alive socket (net/http costs a cold
  # start tens of milliseconds to load).
  class RuntimeApi
    Response = Struct.new(:status, :headers, :body)

    def initialize(address)
      host, _, port = address.rpartition(':')
      @host = host
      @port = Integer(port)
      @socket = nil
    end

    def next_invocation
      exchange('GET', "#{API_PREFIX}/invocation/next")
    end

    # The platform's refusal of a result (e.g. 413, too large) is its answer to the
    # caller, not a fault of the runtime: noted, and the next event is served.
    def respond(request_id, body)
      noted(exchange('POST', "#{API_PREFIX}/invocation/#{request_id}/response", body))
    end

    def error(request_id, error_type, body)
      noted(exchange('POST', "#{API_PREFIX}/invocation/#{request_id}/error", body, error_type))
    end

    def init_error(error_type, body)
      accepted(exchange('POST', "#{API_PREFIX}/init/error", body, error_type))
    end

    private

    def noted(response)
      return if response.status / 100 == 2

      warn("Nimbus: the Runtime API refused the result (#{response.status}): #{response.body}")
    end

    def accepted(response)
      return if response.status / 100 == 2

      raise IOError, "Runtime API answered #{response.status}: #{response.body}"
    end

    def exchange(method, path, body = nil, error_type = nil)
      attempt = 0
      begin
        fresh = @socket.nil?
        @socket ||= connect
        send_request(method, path, body, error_type)
        read_response
      rescue IOError, SystemCallError
        close
        attempt += 1
        # A kept-alive connection the server closed: retry a GET once (a POST may
        # have been received).
        retry if !fresh && attempt == 1 && method == 'GET'
        raise
      end
    end

    def connect
      s = TCPSocket.new(@host, @port)
      s.setsockopt(Socket::IPPROTO_TCP, Socket::TCP_NODELAY, 1)
      s
    end

    def close
      @socket&.close
    rescue IOError
      nil
    ensure
      @socket = nil
    end

    def send_request(method, path, body, error_type)
      head = +"#{method} #{path} HTTP/1.1\r\nHost: #{@host}:#{@port}\r\nUser-Agent: nimbus-ruby/#{RUBY_VERSION}\r\n"
      if body
        body = body.b
        head << "Content-Type: application/json\r\nContent-Length: #{body.bytesize}\r\n"
      end
      head << "Lambda-Runtime-Function-Error-Type: #{error_type.gsub(/[\r\n]/, ' ')}\r\n" if error_type
      head << "\r\n"
      @socket.write(body ? head.b + body : head)
    end

    def read_line
      line = @socket.gets("\r\n")
      raise IOError, 'connection closed by the Runtime API' if line.nil?

      line.chomp("\r\n")
    end

    def read_exact(n)
      data = @socket.read(n)
      raise IOError, 'connection closed by the Runtime API' if data.nil? || data.bytesize < n

      data
    end

    def read_response
      status = read_line.split(' ', 3)
      raise IOError, "malformed status line: #{status.join(' ')}" unless status[0]&.start_with?('HTTP/')

      headers = {}
      while (line = read_line) != ''
        name, _, value = line.partition(':')
        headers[name.strip.downcase] = value.strip
      end
      body = if headers['transfer-encoding']&.casecmp?('chunked')
               read_chunked
             elsif headers['content-length']
               read_exact(Integer(headers['content-length']))
             else
               +''
             end
      close if headers['connection']&.casecmp?('close')
      Response.new(Integer(status[1]), headers, body.force_encoding(Encoding::UTF_8))
    end

    def read_chunked
      body = +''.b
      loop do
        size = read_line.split(';', 2)[0].strip.to_i(16)
        if size.zero?
          nil until read_line.empty?
          return body
        end
        body << read_exact(size)
        read_line
      end
    end
  end

  # The context object handlers receive.
  class LambdaContext
    attr_reader :aws_request_id, :invoked_function_arn, :log_group_name, :log_stream_name,
                :function_name, :memory_limit_in_mb, :function_version, :identity,
                :client_context, :deadline_ms, :tenant_id, :xray_trace_id

    def initialize(headers)
      @aws_request_id = headers['lambda-runtime-aws-request-id']
      @invoked_function_arn = headers['lambda-runtime-invoked-function-arn']
      @deadline_ms = Integer(headers['lambda-runtime-deadline-ms'] || 0)
      @identity = NimbusLambda.parse_header(headers['lambda-runtime-cognito-identity'])
      @client_context = NimbusLambda.parse_header(headers['lambda-runtime-client-context'])
      @tenant_id = headers['lambda-runtime-aws-tenant-id']
      @xray_trace_id = headers['lambda-runtime-trace-id']
      @log_group_name = ENV['AWS_LAMBDA_LOG_GROUP_NAME']
      @log_stream_name = ENV['AWS_LAMBDA_LOG_STREAM_NAME']
      @function_name = ENV['AWS_LAMBDA_FUNCTION_NAME']
      @memory_limit_in_mb = ENV['AWS_LAMBDA_FUNCTION_MEMORY_SIZE']
      @function_version = ENV['AWS_LAMBDA_FUNCTION_VERSION']
    end

    def get_remaining_time_in_millis # rubocop:disable Naming/AccessorMethodName
      [@deadline_ms - (Process.clock_gettime(Process::CLOCK_REALTIME) * 1000).to_i, 0].max
    end
  end

  # An error Lambda reports with its own type (`Init<...>`, `Runtime.*`).
  class Fault < StandardError
    attr_reader :error_type, :cause_error

    def initialize(error_type, message, cause_error = nil)
      super(message)
      @error_type = error_type
      @cause_error = cause_error
    end
  end

  module_function

  def parse_header(value)
    return nil if value.nil? || value.empty?

    JSON.parse(value)
  rescue JSON::ParserError
    nil
  end

  # Frames as Ruby prints them, the runtime's own left out.
  def stack_trace(error)
    (error.backtrace || []).reject { |f| f.start_with?(__FILE__) }
  end

  def error_doc(error, error_type)
    source = error.is_a?(Fault) && error.cause_error ? error.cause_error : error
    { 'errorMessage' => error.message, 'errorType' => error_type, 'stackTrace' => stack_trace(source) }
  end

  def log_error(doc)
    $stdout.puts(JSON.generate(doc))
  end

  def json_logs?
    ENV['AWS_LAMBDA_LOG_FORMAT'] == 'JSON'
  end

  # Lambda's JSON log records for Logger in JSON format; text format keeps Ruby's own.
  def configure_logger(request_id_ref)
    return unless json_logs?

    require 'logger'
    levels = %w[DEBUG INFO WARN ERROR FATAL ANY]
    minimum = levels.index(ENV.fetch('AWS_LAMBDA_LOG_LEVEL', 'INFO').upcase.sub('TRACE', 'DEBUG')) || 1
    formatter = proc do |severity, time, progname, msg|
      text = msg.is_a?(String) ? msg : msg.inspect
      record = { 'timestamp' => time.utc.strftime('%Y-%m-%dT%H:%M:%S.%LZ'), 'level' => severity,
                 'message' => text, 'requestId' => request_id_ref[0] }
      record['logger'] = progname if progname
      "#{JSON.generate(record)}\n"
    end
    Logger.prepend(Module.new do
      define_method(:initialize) do |*args, **kwargs, &blk|
        super(*args, **kwargs, &blk)
        self.formatter = formatter
        self.level = minimum
      end
    end)
  end

  def setup_load_path(task_root)
    $LOAD_PATH.unshift(task_root) unless $LOAD_PATH.include?(task_root)
    ['/opt/ruby/lib'].each { |d| $LOAD_PATH.push(d) if File.directory?(d) }
    gems = (ENV['GEM_PATH'] || '').split(':').any? { |d| File.directory?(d) } ||
           File.directory?(File.join(task_root, 'vendor'))
    require 'rubygems' if gems
  end

  # `file.method` or `file.Module::Class.method`: the receiver and method to call.
  def load_handler(spec, task_root)
    parts = spec.to_s.split('.')
    unless [2, 3].include?(parts.size) && parts.none?(&:empty?)
      raise Fault.new('Init<ArgumentError>', "Invalid handler #{spec}, must be of form FILENAME.METHOD or FILENAME.CLASS.METHOD where FILENAME corresponds with an existing Ruby source file FILENAME.rb, CLASS is an optional module/class namespace and METHOD is a callable method.")
    end
    file = parts[0]
    begin
      require File.join(task_root, file)
    rescue LoadError => e
      # Loaded without RubyGems for a fast start: a library that is a gem on this
      # Ruby (base64, bigdecimal, ... on 3.4) needs it. Load it and try once more.
      raise Fault.new("Init<#{e.class}>", e.message, e) if defined?(Gem)

      require 'rubygems'
      retry
    rescue ScriptError, StandardError => e
      raise Fault.new("Init<#{e.class}>", e.message, e)
    end
    method = parts[-1]
    receiver = if parts.size == 3
                 begin
                   Object.const_get(parts[1])
                 rescue NameError => e
                   raise Fault.new("Init<#{e.class}>", e.message, e)
                 end
               else
                 TOPLEVEL_BINDING.receiver
               end
    unless receiver.respond_to?(method, true)
      err = NoMethodError.new("undefined method `#{method}' for #{receiver.inspect}")
      raise Fault.new('Init<NoMethodError>', err.message)
    end
    [receiver, method.to_sym]
  end

  def main
    $stdout.sync = true
    $stderr.sync = true
    api = RuntimeApi.new(ENV.fetch('AWS_LAMBDA_RUNTIME_API'))
    task_root = ENV['LAMBDA_TASK_ROOT'] || Dir.pwd
    request_id = [nil]
    begin
      setup_load_path(task_root)
      configure_logger(request_id)
      receiver, method = load_handler(ENV['_HANDLER'], task_root)
    rescue Fault, StandardError, ScriptError => e
      type = e.is_a?(Fault) ? e.error_type : "Init<#{e.class}>"
      doc = error_doc(e, type)
      log_error(doc)
      begin
        api.init_error(type, JSON.generate(doc))
      rescue IOError, SystemCallError
        nil
      end
      exit!(1)
    end
    serve(api, receiver, method, request_id)
  end

  # The platform may refuse a result before reading all of it (413) and close the
  # connection under the write: the next /next reconnects, and ends the process only
  # if the Runtime API is really gone.
  def report
    yield
  rescue IOError, SystemCallError => e
    warn("Nimbus: could not report the invocation's result: #{e.message}")
  end

  def serve(api, receiver, method, request_id)
    loop do
      inv = api.next_invocation
      context = LambdaContext.new(inv.headers)
      request_id[0] = context.aws_request_id
      ENV['_X_AMZN_TRACE_ID'] = context.xray_trace_id if context.xray_trace_id
      begin
        event = inv.body.empty? ? nil : JSON.parse(inv.body, quirks_mode: true)
      rescue JSON::ParserError => e
        doc = { 'errorMessage' => "Unable to parse event: #{e.message}", 'errorType' => 'Runtime.UnmarshalError', 'stackTrace' => [] }
        api.error(context.aws_request_id, 'Runtime.UnmarshalError', JSON.generate(doc))
        next
      end
      begin
        result = receiver.__send__(method, event: event, context: context)
        body = JSON.generate(result, quirks_mode: true)
      rescue StandardError, ScriptError, SystemStackError, NoMemoryError => e
        type = "Function<#{e.class}>"
        doc = error_doc(e, type)
        log_error(doc)
        report { api.error(context.aws_request_id, type, JSON.generate(doc)) }
        next
      end
      report { api.respond(context.aws_request_id, body) }
    end
  rescue IOError, SystemCallError => e
    warn("Nimbus: lost the Runtime API: #{e.message}")
    exit!(1)
  end
end

NimbusLambda.main if $PROGRAM_NAME == __FILE__

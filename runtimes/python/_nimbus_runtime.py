"""Nimbus python runtime: everything behind the ``bootstrap.py`` launcher.

The Nimbus host starts ``python3 /path/to/bootstrap.py`` with cwd set to the
function code directory and the usual Lambda environment variables; the
launcher imports this module (so its bytecode is cached in ``__pycache__``)
and calls ``main()``.  This implements the client side of the Lambda Runtime
API (2018-06-01):

    GET  /runtime/invocation/next
    POST /runtime/invocation/{id}/response
    POST /runtime/invocation/{id}/error
    POST /runtime/init/error

Startup matters (cold starts).  Importing the Python-level ``socket``, ``json``
and ``http.client`` modules costs tens of milliseconds (they pull in enum, re,
selectors, email, ssl, ...), so the runtime talks HTTP/1.1 itself on the C
``_socket`` module and encodes/decodes JSON with the C ``_json`` accelerator
(exactly what ``json.dumps``/``json.loads`` run underneath); the ``json``
package is imported only to report a malformed payload.  ``traceback`` is
imported only when an error has to be reported, and ``logging`` is never
imported by the runtime itself: a meta-path hook configures the root logger the
first time user code imports it.

Python 3.8+ standard library only.
"""

import sys

_PRELOADED = set(sys.modules)  # to spot the modules that only the runtime pulled in

import os
import time
import _socket

try:
    from _json import encode_basestring as _c_encode_basestring
    from _json import encode_basestring_ascii as _c_encode_basestring_ascii
    from _json import make_encoder as _c_make_encoder
    from _json import make_scanner as _c_make_scanner
except ImportError:  # not CPython (or built without _json): use the json package
    _c_make_encoder = _c_make_scanner = None

_RUNTIME_FILE = sys._getframe().f_code.co_filename  # filters our frames out of tracebacks
_API_PREFIX = "/2018-06-01/runtime"
_ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
_USER_AGENT = "nimbus-python/%d.%d.%d" % sys.version_info[:3]
_LOG_FORMAT = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s"
_LOG_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"


def _ensure_ascii():
    # The python3.12+ runtimes on AWS return unicode characters unescaped;
    # older ones escape them (json.dumps default).
    env = os.environ.get("AWS_EXECUTION_ENV", "")
    if env.startswith("AWS_Lambda_python3."):
        try:
            return int(env[len("AWS_Lambda_python3."):]) < 12
        except ValueError:
            pass
    return sys.version_info < (3, 12)


_ENSURE_ASCII = _ensure_ascii()

# Read by the logging filter; the id of the invocation in progress (or the last one).
_request_id = None
_tenant_id = None
_logging_configured = False


class _Fault(Exception):
    """A runtime-level error with a Lambda error type (Runtime.*)."""

    def __init__(self, error_type, message, trace=None):
        Exception.__init__(self, message)
        self.error_type = error_type
        self.message = message
        self.trace = trace


# --------------------------------------------------------------------------
# JSON on the C accelerator
#
# json.loads()/json.dumps() with default arguments run the _json scanner and
# encoder; calling them directly gives the same results (and the same encoding
# errors) without importing json (and with it re, enum, functools...).


class _DecoderContext(object):
    # The attributes of a default json.JSONDecoder that _json.make_scanner reads.
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__


def _not_serializable(o):
    # json.JSONEncoder.default
    raise TypeError("Object of type %s is not JSON serializable" % o.__class__.__name__)


_c_scanner = None
if _c_make_scanner is not None:
    try:
        _c_scanner = _c_make_scanner(_DecoderContext())
        _c_make_encoder({}, _not_serializable, _c_encode_basestring_ascii, None, ": ", ", ", False, False, True)
    except Exception:  # an interpreter whose _json differs: use the json package
        _c_scanner = _c_make_encoder = None

_JSON_WS = " \t\n\r"


def _detect_encoding(b):
    # json.detect_encoding
    if b.startswith((b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")):
        return "utf-32"
    if b.startswith((b"\xfe\xff", b"\xff\xfe")):
        return "utf-16"
    if b.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if len(b) >= 4:
        if not b[0]:
            return "utf-16-be" if b[1] else "utf-32-be"
        if not b[1]:
            return "utf-16-le" if b[2] or b[3] else "utf-32-le"
    elif len(b) == 2:
        if not b[0]:
            return "utf-16-be"
        if not b[1]:
            return "utf-16-le"
    return "utf-8"


def _json_loads(data):
    """json.loads(data) for str or bytes."""
    if _c_scanner is not None:
        try:
            s = data if isinstance(data, str) else data.decode(_detect_encoding(data), "surrogatepass")
            if s and not s.startswith("\ufeff"):
                idx = len(s) - len(s.lstrip(_JSON_WS)) if s[0] in _JSON_WS else 0
                obj, end = _c_scanner(s, idx)
                if end == len(s) or not s[end:].strip(_JSON_WS):
                    return obj
        except Exception:
            pass
    # Malformed: let the json package raise its usual JSONDecodeError.
    import json

    return json.loads(data)


def _json_dumps(obj, ensure_ascii=True, default=_not_serializable):
    """json.dumps(obj, ensure_ascii=ensure_ascii, default=default)."""
    if _c_make_encoder is None:
        import json

        return json.dumps(obj, ensure_ascii=ensure_ascii, default=default)
    encode_str = _c_encode_basestring_ascii if ensure_ascii else _c_encode_basestring
    if isinstance(obj, str):
        return encode_str(obj)
    return "".join(_c_make_encoder({}, default, encode_str, None, ": ", ", ", False, False, True)(obj, 0))


# --------------------------------------------------------------------------
# Output and diagnostics


def _setup_streams():
    # stdout is block-buffered when it is a pipe; the host reads log lines
    # from it, so make both streams flush at every newline.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True)
        except Exception:
            pass


def _flush_output():
    seen = set()
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        if stream is None or id(stream) in seen:
            continue
        seen.add(id(stream))
        try:
            stream.flush()
        except Exception:
            pass


def _runtime_warning(message):
    """Problems of the runtime itself (not of the function) go to stderr."""
    try:
        stream = sys.stderr or sys.__stderr__
        stream.write("[nimbus-runtime] %s\n" % message)
        stream.flush()
    except Exception:
        pass


def _write_stdout(text):
    stream = sys.stdout or sys.__stdout__
    try:
        stream.write(text)
    except UnicodeEncodeError:
        enc = getattr(stream, "encoding", None) or "utf-8"
        stream.write(text.encode(enc, "backslashreplace").decode(enc, "replace"))


def _log_error(error):
    """Print an error document the way the AWS runtime logs it."""
    head = "[ERROR]"
    if error["errorType"]:
        head += " " + error["errorType"]
    if error["errorMessage"]:
        head += (":" if error["errorType"] else "") + " " + error["errorMessage"]
    lines = [head, "Traceback (most recent call last):"]
    for entry in error["stackTrace"]:
        lines.extend(entry.splitlines() if entry else [""])
    try:
        _write_stdout("\n".join(lines) + "\n")  # one write, so it stays together
    except Exception:
        pass


# --------------------------------------------------------------------------
# Error documents


def _safe_str(obj):
    try:
        return str(obj)
    except Exception:
        try:
            return repr(obj)
        except Exception:
            return "<unprintable %s object>" % type(obj).__name__


def _error_doc(message, error_type, trace, request_id):
    return {
        "errorMessage": message or "",
        "errorType": error_type or "",
        "requestId": request_id or "",
        "stackTrace": list(trace) if trace else [],
    }


def _stack_trace(tb):
    """Frame strings as traceback.format_list() renders them, minus the runtime's frames."""
    try:
        import traceback

        frames = [(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(tb)]
        while frames and frames[0][0] == _RUNTIME_FILE:
            del frames[0]
        frames = [f for f in frames if not f[0].startswith("<frozen importlib._bootstrap")]
        # Plain 4-tuples: no ^^^ position markers, as on AWS.
        return traceback.format_list(frames)
    except Exception:
        return []


def _error_from_exception(exc, request_id):
    return _error_doc(_safe_str(exc), type(exc).__name__, _stack_trace(exc.__traceback__), request_id)


def _dump_error(error):
    return _json_dumps(error).encode("utf-8")


# --------------------------------------------------------------------------
# Logging (configured lazily, the first time anything imports `logging`)


def _configure_logging(logging):
    global _logging_configured
    if _logging_configured:
        return
    _logging_configured = True
    try:
        root = logging.getLogger()
        logging.Formatter.converter = time.gmtime

        class LambdaLoggerHandler(logging.Handler):
            def emit(self, record):
                try:
                    msg = self.format(record)
                    (sys.stdout or sys.__stdout__).write(msg + "\n")
                except RecursionError:
                    raise
                except Exception:
                    self.handleError(record)

        class LambdaRequestIdFilter(logging.Filter):
            def filter(self, record):
                record.aws_request_id = _request_id or ""
                record.tenant_id = _tenant_id
                return True

        class JsonFormatter(logging.Formatter):
            """Lambda's JSON log format: one object per record."""

            def format(self, record):
                level = {"WARNING": "WARN", "CRITICAL": "FATAL"}.get(record.levelname, record.levelname)
                doc = {
                    "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                    + ".%03dZ" % record.msecs,
                    "level": level,
                    "message": record.getMessage(),
                    "logger": record.name,
                    "requestId": getattr(record, "aws_request_id", "") or "",
                }
                if record.exc_info and record.exc_info[0] is not None:
                    doc["errorType"] = record.exc_info[0].__name__
                    doc["errorMessage"] = _safe_str(record.exc_info[1])
                    doc["stackTrace"] = _stack_trace(record.exc_info[2])
                return _json_dumps(doc, ensure_ascii=False, default=str)

        handler = LambdaLoggerHandler()
        json_format = os.environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON"
        if json_format:
            handler.setFormatter(JsonFormatter())
        else:
            handler.setFormatter(logging.Formatter(_LOG_FORMAT, _LOG_DATE_FORMAT))
        handler.addFilter(LambdaRequestIdFilter())
        level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper() or ("INFO" if json_format else "")
        level = {"TRACE": "DEBUG"}.get(level, level)
        if level and level in getattr(logging, "_nameToLevel", {}):
            root.setLevel(level)
        root.addHandler(handler)
    except Exception as exc:  # e.g. a user module called `logging`
        _runtime_warning("could not configure logging: %s" % _safe_str(exc))


def _maybe_configure_logging():
    if not _logging_configured:
        module = sys.modules.get("logging")
        if module is not None and hasattr(module, "Handler"):
            _configure_logging(module)


class _LoggingImportHook:
    """sys.meta_path entry: configures the root logger right after `logging` loads."""

    def find_spec(self, name, path=None, target=None):
        if name != "logging":
            return None
        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass
        spec = None
        for finder in list(sys.meta_path):
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is not None:
                spec = find_spec(name, path, target)
                if spec is not None:
                    break
        if spec is None:
            return None
        loader = spec.loader
        exec_module = getattr(loader, "exec_module", None)
        if exec_module is None or isinstance(loader, type):
            return spec  # shared/class loader: leave it, _maybe_configure_logging() catches up

        def exec_then_configure(module):
            try:
                del loader.exec_module
            except AttributeError:
                pass
            exec_module(module)
            if hasattr(module, "Handler"):
                _configure_logging(module)

        try:
            loader.exec_module = exec_then_configure
        except Exception:
            pass
        return spec


def _install_logging_hook():
    if "logging" in sys.modules:
        _maybe_configure_logging()
    else:
        sys.meta_path.insert(0, _LoggingImportHook())


# --------------------------------------------------------------------------
# sys.path and handler loading


def _setup_sys_path(task_root):
    layer_site = "/opt/python/lib/python%d.%d/site-packages" % sys.version_info[:2]
    front = [task_root, layer_site, "/opt/python"]
    own_dirs = {os.path.dirname(os.path.abspath(_RUNTIME_FILE)), os.path.dirname(os.path.realpath(_RUNTIME_FILE))}
    rest = []
    own = []
    for entry in sys.path:
        if entry in front:
            continue
        # The script's own directory (sys.path[0]) goes last, like /var/runtime on AWS.
        if entry and os.path.abspath(entry) in own_dirs:
            own.append(entry)
        else:
            rest.append(entry)
    sys.path[:] = front + rest + own


def _unshadow_runtime_imports(task_root):
    """Forget stdlib modules that only the runtime imported (few now: the runtime
    sticks to C modules, but the interpreter or a future change may add some)
    when the function ships its own module of that name, so `import x` in user
    code finds the user's module as on AWS.  The runtime keeps its own
    references, so it is unaffected."""
    runtime_only = {m.partition(".")[0] for m in sys.modules if m not in _PRELOADED}
    runtime_only = {m for m in runtime_only if not m.startswith("_")}
    try:
        names = os.listdir(task_root)
    except OSError:
        return
    clashes = set()
    for entry in names:
        if entry.endswith(".py"):
            if entry[:-3] in runtime_only:
                clashes.add(entry[:-3])
        elif entry in runtime_only and os.path.isfile(os.path.join(task_root, entry, "__init__.py")):
            clashes.add(entry)
    for name in clashes:
        for mod in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[mod]


def _load_handler(handler_spec):
    try:
        modname, fname = handler_spec.rsplit(".", 1)
    except ValueError as exc:
        raise _Fault("Runtime.MalformedHandlerName", "Bad handler '%s': %s" % (handler_spec, exc))

    dotted = modname.replace("/", ".")
    if dotted.split(".")[0] in sys.builtin_module_names:
        raise _Fault(
            "Runtime.BuiltInModuleConflict",
            "Cannot use built-in module %s as a handler module" % modname,
        )
    try:
        top = __import__(dotted)
        module = sys.modules.get(dotted)
        if module is None:
            module = top
            for part in dotted.split(".")[1:]:
                module = getattr(module, part)
    except ImportError as exc:
        raise _Fault("Runtime.ImportModuleError", "Unable to import module '%s': %s" % (modname, exc))
    except SyntaxError as exc:
        trace = ['  File "%s" Line %s\n    %s' % (exc.filename, exc.lineno, exc.text or "")]
        raise _Fault(
            "Runtime.UserCodeSyntaxError",
            "Syntax error in module '%s': %s" % (modname, exc),
            trace,
        )
    try:
        return getattr(module, fname)
    except AttributeError:
        raise _Fault("Runtime.HandlerNotFound", "Handler '%s' missing on module '%s'" % (fname, modname))


# --------------------------------------------------------------------------
# Context


class CognitoIdentity(object):
    def __init__(self, data):
        data = data if isinstance(data, dict) else {}
        self.cognito_identity_id = data.get("cognitoIdentityId")
        self.cognito_identity_pool_id = data.get("cognitoIdentityPoolId")

    def __repr__(self):
        return "CognitoIdentity([cognito_identity_id=%s,cognito_identity_pool_id=%s])" % (
            self.cognito_identity_id,
            self.cognito_identity_pool_id,
        )


class Client(object):
    _fields = ("installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name")

    def __init__(self, data):
        for field in self._fields:
            setattr(self, field, data.get(field))

    def __repr__(self):
        return "Client([%s])" % ",".join("%s=%s" % (f, getattr(self, f)) for f in self._fields)


class ClientContext(object):
    def __init__(self, data):
        client = data.get("client")
        self.client = Client(client) if isinstance(client, dict) else None
        self.custom = data.get("custom")
        self.env = data.get("env")

    def __repr__(self):
        return "ClientContext([custom=%s,env=%s,client=%s])" % (self.custom, self.env, self.client)


class LambdaContext(object):
    def __init__(self, request_id, deadline_ms, invoked_function_arn, client_context, identity, tenant_id=None):
        env = os.environ
        self.aws_request_id = request_id
        self.request_id = request_id  # Nimbus extra
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        memory = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        try:
            memory = int(memory)
        except (TypeError, ValueError):
            pass
        self.memory_limit_in_mb = memory
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = identity
        self.client_context = client_context
        self.tenant_id = tenant_id
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        remaining = self._deadline_ms - int(time.time() * 1000)
        return remaining if remaining > 0 else 0

    def log(self, msg):
        _write_stdout(str(msg))

    def __repr__(self):
        return (
            "LambdaContext([aws_request_id=%s,log_group_name=%s,log_stream_name=%s,"
            "function_name=%s,memory_limit_in_mb=%s,function_version=%s,"
            "invoked_function_arn=%s,client_context=%s,identity=%s,tenant_id=%s])"
            % (
                self.aws_request_id,
                self.log_group_name,
                self.log_stream_name,
                self.function_name,
                self.memory_limit_in_mb,
                self.function_version,
                self.invoked_function_arn,
                self.client_context,
                self.identity,
                self.tenant_id,
            )
        )


def _parse_json_header(value, what):
    try:
        return _json_loads(value)
    except Exception as exc:
        raise _Fault("Runtime.LambdaContextUnmarshalError", "Unable to parse %s JSON: %s" % (what, exc))


def _make_context(request_id, headers):
    try:
        deadline_ms = int(headers.get("lambda-runtime-deadline-ms") or 0)
    except ValueError:
        deadline_ms = 0
    client_context = None
    raw = headers.get("lambda-runtime-client-context")
    if raw:
        data = _parse_json_header(raw, "Client Context")
        if isinstance(data, dict):
            client_context = ClientContext(data)
    identity = None
    raw = headers.get("lambda-runtime-cognito-identity")
    if raw:
        identity = _parse_json_header(raw, "Cognito Identity")
    return LambdaContext(
        request_id,
        deadline_ms,
        headers.get("lambda-runtime-invoked-function-arn"),
        client_context,
        CognitoIdentity(identity),
        headers.get("lambda-runtime-aws-tenant-id"),
    )


# --------------------------------------------------------------------------
# (Un)marshalling


def _unmarshal(body):
    if not body:
        return None
    try:
        return _json_loads(body)
    except Exception as exc:
        raise _Fault("Runtime.UnmarshalError", "Unable to unmarshal input: %s" % exc)


def _to_json(obj):
    decimals = []
    marker = []

    def default(o):
        dec = sys.modules.get("decimal")
        if dec is not None and isinstance(o, dec.Decimal):
            # Decimals (e.g. from DynamoDB) are emitted as JSON numbers, NaN as NaN.
            if o.is_nan():
                return float("nan")
            if not marker:
                marker.append("\x00nimbus-decimal-%s-" % os.urandom(6).hex())
            decimals.append(str(o))
            return "%s%d\x00" % (marker[0], len(decimals) - 1)
        return _not_serializable(o)

    text = _json_dumps(obj, ensure_ascii=_ENSURE_ASCII, default=default)
    if decimals:
        import re

        pattern = re.escape(_json_dumps(marker[0])[:-1]) + r"(\d+)\\u0000\""
        text = re.sub(pattern, lambda m: decimals[int(m.group(1))], text)
    return text


def _marshal(result):
    if isinstance(result, bytes):
        return result, "application/unknown"
    try:
        return _to_json(result).encode("utf-8"), "application/json"
    except Exception as exc:
        raise _Fault("Runtime.MarshalError", "Unable to marshal response: %s" % _safe_str(exc))


# --------------------------------------------------------------------------
# Runtime API client: a minimal HTTP/1.1 client on _socket
#
# One persistent (keep-alive) connection; blocking I/O without timeouts (GET
# /next is a long poll).  Responses are framed by Content-Length or chunked
# transfer coding (or, failing both, by the server closing the connection).


class _ProtocolError(Exception):
    """The Runtime API sent something that is not a valid HTTP/1.x response."""


_MAX_HEAD = 1 << 20  # response status line + headers
_MAX_LINE = 1 << 16  # chunk-size and trailer lines
_SEND_JOIN_LIMIT = 1 << 16  # bodies up to this size are sent in the same buffer as the headers
_RECV_SIZE = 1 << 16
_PEEK_NOWAIT = (_socket.MSG_PEEK | _socket.MSG_DONTWAIT) if hasattr(_socket, "MSG_DONTWAIT") else 0
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
_PATH_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _split_address(address):
    """"host:port", "[v6]:port" or "host" (port 80), as http.client parses them."""
    host, port = address, 80
    i = address.rfind(":")
    if i > address.rfind("]"):
        host = address[:i]
        if address[i + 1:]:
            try:
                port = int(address[i + 1:])
            except ValueError:
                raise ValueError("nonnumeric port in %r" % address)
    if host[:1] == "[" and host[-1:] == "]":
        host = host[1:-1]
    return host, port


def _quote_segment(segment):
    """Percent-encode a request id for use as one URL path segment."""
    data = segment.encode("utf-8", "surrogatepass")
    for b in data:
        if b not in _PATH_SAFE:
            return "".join(chr(b) if b in _PATH_SAFE else "%%%02X" % b for b in data)
    return segment


def _is_decimal(text):
    return text.isdigit() and text.isascii()


def _header_value(value):
    return str(value).replace("\r", " ").replace("\n", " ")


class _HTTPConnection(object):
    def __init__(self, address):
        host, self._port = _split_address(address)
        try:
            # getaddrinfo() runs str host names through the idna codec, which
            # costs an import of encodings.idna + unicodedata; ASCII bytes skip it.
            self._host = host.encode("ascii")
        except UnicodeEncodeError:
            self._host = host
        self._host_header = address
        self._sock = None
        self._buf = b""  # bytes received beyond what has been parsed so far

    def close(self):
        sock, self._sock = self._sock, None
        self._buf = b""
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def _connect(self):
        error = None
        for family, socktype, proto, _, addr in _socket.getaddrinfo(self._host, self._port, 0, _socket.SOCK_STREAM):
            sock = _socket.socket(family, socktype, proto)
            try:
                sock.connect(addr)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            try:
                sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            except OSError:
                pass
            return sock
        raise error or OSError("getaddrinfo returned no address for %r" % (self._host_header,))

    def _is_stale(self):
        """True if the idle keep-alive connection was closed by the server (or holds
        unsolicited bytes): a fresh connection is then used instead."""
        if self._buf:
            return True
        if not _PEEK_NOWAIT:
            return False
        try:
            self._sock.recv(1, _PEEK_NOWAIT)
        except BlockingIOError:
            return False  # nothing to read: alive and idle
        except OSError:
            return True
        return True  # EOF or unexpected data

    def request(self, method, path, body=b"", headers=()):
        """Send one request and read its response: (status, {lower-case name: value}, body)."""
        if self._sock is not None and self._is_stale():
            self.close()
        if self._sock is None:
            self._sock = self._connect()
        lines = ["%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nContent-Length: %d\r\n"
                 % (method, path, self._host_header, _USER_AGENT, len(body))]
        for name, value in headers:
            lines.append("%s: %s\r\n" % (name, _header_value(value)))
        lines.append("\r\n")
        head = "".join(lines).encode("utf-8")
        sock = self._sock
        if len(body) <= _SEND_JOIN_LIMIT:
            sock.sendall(head + body)  # one segment with TCP_NODELAY
        else:
            sock.sendall(head)
            sock.sendall(body)
        return self._read_response(method)

    # -- response parsing

    def _recv_more(self, what):
        data = self._sock.recv(_RECV_SIZE)
        if not data:
            raise ConnectionError("Runtime API closed the connection %s" % what)
        self._buf += data

    def _read_head(self):
        start = 0
        while True:
            end = self._buf.find(b"\r\n\r\n", start)
            if end >= 0:
                break
            if len(self._buf) > _MAX_HEAD:
                raise _ProtocolError("response headers longer than %d bytes" % _MAX_HEAD)
            start = max(0, len(self._buf) - 3)
            self._recv_more("before a complete response" if self._buf else "without a response")
        head, self._buf = self._buf[:end], self._buf[end + 4:]
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError:
            text = head.decode("latin-1")
        lines = text.split("\r\n")
        parts = lines[0].split(None, 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not _is_decimal(parts[1]) or len(parts[1]) != 3:
            raise _ProtocolError("bad status line %r" % lines[0][:200])
        headers = {}
        name = None
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and name is not None:  # obsolete line folding
                headers[name] = (headers[name] + " " + line.strip()).strip()
                continue
            name, sep, value = line.partition(":")
            name = name.strip().lower()
            if not sep or not name:
                raise _ProtocolError("bad header line %r" % line[:200])
            value = value.strip()
            if name not in headers:
                headers[name] = value  # like http.client's message.get(): the first one
            elif name in ("transfer-encoding", "connection"):
                headers[name] += ", " + value
            else:
                name = None  # a repeated header (and its continuation lines) is ignored
        return parts[0], int(parts[1]), headers

    def _read_exact(self, n):
        buf = self._buf
        if len(buf) >= n:
            self._buf = buf[n:]
            return buf[:n]
        out = bytearray(n)
        have = len(buf)
        out[:have] = buf
        self._buf = b""
        view = memoryview(out)
        recv_into = self._sock.recv_into
        while have < n:
            got = recv_into(view[have:], min(n - have, 1 << 22))
            if not got:
                raise ConnectionError("Runtime API closed the connection after %d of %d body bytes" % (have, n))
            have += got
        view.release()
        return bytes(out)

    def _read_line(self):
        start = 0
        while True:
            end = self._buf.find(b"\r\n", start)
            if end >= 0:
                line, self._buf = self._buf[:end], self._buf[end + 2:]
                return line
            if len(self._buf) > _MAX_LINE:
                raise _ProtocolError("chunked body line longer than %d bytes" % _MAX_LINE)
            start = max(0, len(self._buf) - 1)
            self._recv_more("in a chunked body")

    def _read_chunked(self):
        parts = []
        while True:
            size = self._read_line().split(b";", 1)[0].strip()
            if not size or len(size) > 16 or not _HEX_DIGITS.issuperset(size):
                raise _ProtocolError("bad chunk size %r" % size[:40])
            size = int(size, 16)
            if not size:
                break
            parts.append(self._read_exact(size))
            if self._read_exact(2) != b"\r\n":
                raise _ProtocolError("chunk not followed by CRLF")
        while self._read_line():  # trailer fields, up to the empty line
            pass
        return b"".join(parts)

    def _read_to_eof(self):
        parts = [self._buf]
        self._buf = b""
        while True:
            data = self._sock.recv(_RECV_SIZE)
            if not data:
                return b"".join(parts)
            parts.append(data)

    def _read_response(self, method):
        while True:
            version, status, headers = self._read_head()
            if status >= 200:
                break
            if status == 101:
                raise _ProtocolError("unexpected 101 Switching Protocols")
            # 100 Continue, 103 Early Hints...: informational, no body; the real response follows.
        connection = headers.get("connection", "").lower()
        keep_alive = "close" not in connection and (version != "HTTP/1.0" or "keep-alive" in connection)
        te = headers.get("transfer-encoding")
        if method == "HEAD" or status in (204, 304):
            body = b""
        elif te is not None:
            if te.rsplit(",", 1)[-1].strip().lower() != "chunked":
                raise _ProtocolError("unsupported Transfer-Encoding %r" % te)
            body = self._read_chunked()
        elif "content-length" in headers:
            length = headers["content-length"]
            if not _is_decimal(length):
                raise _ProtocolError("bad Content-Length %r" % length)
            body = self._read_exact(int(length))
        else:
            body = self._read_to_eof()
            keep_alive = False
        if not keep_alive:
            self.close()
        return status, headers, body


class _RuntimeAPI(object):
    def __init__(self, address):
        self._conn = _HTTPConnection(address)

    def _request(self, method, path, body=b"", headers=()):
        for attempt in (0, 1):
            try:
                return self._conn.request(method, path, body, headers)
            except (OSError, _ProtocolError) as exc:
                self._conn.close()  # next request reconnects
                if attempt:
                    raise
                _runtime_warning("Runtime API connection error (%s: %s), reconnecting" % (type(exc).__name__, exc))

    def next_invocation(self):
        status, headers, body = self._request("GET", _API_PREFIX + "/invocation/next")
        if status != 200:
            _fatal("GET /invocation/next returned %d: %r" % (status, body[:500]))
        return headers, body

    def _post(self, path, body, headers, what):
        status, _, data = self._request("POST", path, body, headers)
        if 200 <= status < 300:
            return
        _runtime_warning("Runtime API rejected %s: HTTP %d %s" % (what, status, data[:1000].decode("utf-8", "replace")))
        if status >= 500:
            _fatal("Runtime API reported a container error; exiting")

    def post_response(self, request_id, payload, content_type):
        self._post(
            "%s/invocation/%s/response" % (_API_PREFIX, _quote_segment(request_id)),
            payload,
            (("Content-Type", content_type),),
            "response for %s" % request_id,
        )

    def post_error(self, request_id, error):
        self._post(
            "%s/invocation/%s/error" % (_API_PREFIX, _quote_segment(request_id)),
            _dump_error(error),
            (("Content-Type", "application/json"), (_ERROR_TYPE_HEADER, "Unhandled")),
            "error for %s" % request_id,
        )

    def post_init_error(self, error):
        self._post(
            _API_PREFIX + "/init/error",
            _dump_error(error),
            (("Content-Type", "application/json"), (_ERROR_TYPE_HEADER, error["errorType"] or "Unhandled")),
            "init error",
        )

    def restore_next(self):
        status, _, body = self._request("GET", _API_PREFIX + "/restore/next")
        if status != 200:
            _fatal("GET /restore/next returned %d: %r" % (status, body[:500]))

    def post_restore_error(self, error):
        self._post(
            _API_PREFIX + "/restore/error",
            _dump_error(error),
            (("Content-Type", "application/json"), (_ERROR_TYPE_HEADER, error["errorType"] or "Unhandled")),
            "restore error",
        )


def _fatal(message):
    _runtime_warning(message)
    _flush_output()
    os._exit(1)  # don't wait for user threads


# --------------------------------------------------------------------------
# Main loop


def _invoke(api, handler, request_id, headers, body):
    error = None
    try:
        context = _make_context(request_id, headers)
        event = _unmarshal(body)
        result = handler(event, context)
        payload, content_type = _marshal(result)
    except _Fault as fault:
        error = _error_doc(fault.message, fault.error_type, fault.trace, request_id)
    except Exception as exc:
        error = _error_from_exception(exc, request_id)

    if error is None:
        _flush_output()
        api.post_response(request_id, payload, content_type)
    else:
        _log_error(error)
        _flush_output()
        api.post_error(request_id, error)


def _serve(api, handler):
    global _request_id, _tenant_id
    environ = os.environ
    while True:
        headers, body = api.next_invocation()
        request_id = headers.get("lambda-runtime-aws-request-id")
        if not request_id:
            _fatal("invocation without Lambda-Runtime-Aws-Request-Id header")
        _request_id = request_id
        _tenant_id = headers.get("lambda-runtime-aws-tenant-id")
        trace_id = headers.get("lambda-runtime-trace-id")
        if trace_id is not None:
            environ["_X_AMZN_TRACE_ID"] = trace_id
        else:
            environ.pop("_X_AMZN_TRACE_ID", None)
        if not _logging_configured:
            _maybe_configure_logging()
        _invoke(api, handler, request_id, headers, body)
        del body


def _run_snapshot_hooks(when):
    """SnapStart: the hooks the code registered with snapshot_restore_py (if it
    imported it): before the snapshot newest first, after the restore oldest first."""
    hooks = sys.modules.get("snapshot_restore_py")
    if hooks is None:
        return
    if when == "before":
        callables = list(hooks.get_before_snapshot())
        callables.reverse()
    else:
        callables = list(hooks.get_after_restore())
    for func, args, kwargs in callables:
        func(*args, **kwargs)


def _snap_start(api):
    """A SnapStart version's environment: before-snapshot hooks, then wait until the
    environment is handed out, then after-restore hooks. A failing hook is reported
    (as an init error before, a restore error after) and ends the process."""
    _run_hooks_or_exit("before", "Runtime.BeforeSnapshotError", api.post_init_error)
    api.restore_next()
    _run_hooks_or_exit("after", "Runtime.AfterRestoreError", api.post_restore_error)


def _run_hooks_or_exit(when, error_type, report):
    try:
        _run_snapshot_hooks(when)
    except Exception as exc:
        error = _error_from_exception(exc, "")
        error["errorType"] = error_type
        _log_error(error)
        _flush_output()
        report(error)
        os._exit(1)
    _flush_output()


def main():
    _setup_streams()
    address = os.environ.get("AWS_LAMBDA_RUNTIME_API")
    if not address:
        _fatal("AWS_LAMBDA_RUNTIME_API is not set")
    task_root = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    _setup_sys_path(task_root)
    _unshadow_runtime_imports(task_root)
    _install_logging_hook()
    try:
        api = _RuntimeAPI(address)
    except ValueError as exc:
        _fatal("bad AWS_LAMBDA_RUNTIME_API: %s" % exc)

    error = None
    try:
        handler = _load_handler(os.environ.get("_HANDLER", ""))
    except _Fault as fault:
        error = _error_doc(fault.message, fault.error_type, fault.trace, "")
    except Exception as exc:
        error = _error_from_exception(exc, "")
    _maybe_configure_logging()

    if error is not None:
        _log_error(error)
        _flush_output()
        try:
            api.post_init_error(error)
        except Exception as exc:
            _runtime_warning("could not report init error: %s" % _safe_str(exc))
        _flush_output()
        os._exit(1)

    if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":
        _snap_start(api)
    try:
        _serve(api, handler)
    except Exception as exc:  # Runtime API unreachable, etc.
        _fatal("runtime loop failed: %s: %s" % (type(exc).__name__, _safe_str(exc)))


if __name__ == "__main__":
    main()

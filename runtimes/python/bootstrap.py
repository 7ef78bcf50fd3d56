"""Nimbus bootstrap for the python3.* runtimes (launcher).

The Nimbus host runs ``python3 /path/to/bootstrap.py``.  Python never caches
the bytecode of a script run directly, so this file stays tiny and the runtime
itself lives in ``_nimbus_runtime.py`` next to it: imported as a module, its
bytecode is cached in ``__pycache__`` after the first start (even under
PYTHONDONTWRITEBYTECODE, which still applies to the function's own code).
Nothing is imported here beyond what the interpreter has already loaded.

Python 3.8+ standard library only.
"""

import sys


def _load_runtime():
    from os.path import abspath, dirname, realpath  # os is loaded by the interpreter already

    saved_path = sys.path[:]
    saved_dont_write = sys.dont_write_bytecode
    # The runtime module is found next to this file, ahead of anything else.
    sys.path[:0] = [dirname(realpath(__file__)), dirname(abspath(__file__))]
    sys.dont_write_bytecode = False
    try:
        import _nimbus_runtime
    finally:
        # Restored before any user code runs; main() then puts the task root
        # first and this directory last.
        sys.path[:] = saved_path
        sys.dont_write_bytecode = saved_dont_write
    return _nimbus_runtime


main = _load_runtime().main

if __name__ == "__main__":
    main()

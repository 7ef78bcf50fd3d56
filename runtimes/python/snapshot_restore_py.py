"""SnapStart runtime hooks for Python (the ``snapshot-restore-py`` interface Lambda's
python3.12+ runtimes provide): register callables to run before a SnapStart version's
initialized environment is kept ("snapshot") and after it is handed to its first
invocation ("restore"). A function's own copy of the package, earlier on ``sys.path``,
is used instead of this one; Nimbus's runtime runs whichever the code imported.

    from snapshot_restore_py import register_before_snapshot, register_after_restore

    @register_after_restore
    def reconnect():
        ...
"""

_before_snapshot = []
_after_restore = []


def register_before_snapshot(func, *args, **kwargs):
    """Run ``func(*args, **kwargs)`` before the snapshot; hooks run newest first."""
    _before_snapshot.append((func, args, kwargs))
    return func


def register_after_restore(func, *args, **kwargs):
    """Run ``func(*args, **kwargs)`` after the restore; hooks run oldest first."""
    _after_restore.append((func, args, kwargs))
    return func


def get_before_snapshot():
    return _before_snapshot


def get_after_restore():
    return _after_restore

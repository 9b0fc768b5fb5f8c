"""Warnings logged once per subject in a process.

A pass runs every few seconds over every run, so a bad file would
otherwise be reported at every pass. Subjects are kept in a bounded set
(cleared when full, so a very long session may repeat a warning).
"""

import logging

log = logging.getLogger("guild")

_MAX_SUBJECTS = 100000
_seen = set()


def warning_once(subject, msg, *args):
    """Logs `msg % args` as a warning the first time `subject` is seen;
    returns True when it logged."""
    return _once(logging.WARNING, subject, msg, args)


def error_once(subject, msg, *args):
    return _once(logging.ERROR, subject, msg, args)


def _once(level, subject, msg, args):
    if subject in _seen:
        return False
    if len(_seen) >= _MAX_SUBJECTS:
        _seen.clear()
    _seen.add(subject)
    log.log(level, msg, *args)
    return True

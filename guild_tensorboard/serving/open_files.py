"""The open-files limit, which TensorBoard's data server lives under.

TensorBoard's Rust data server holds every event file it reads open, for
as long as it runs: one descriptor each. A process may hold no more than
its soft limit (`RLIMIT_NOFILE`), which it may raise up to the hard limit
(only root may raise that). Child processes inherit both, so raising the
soft limit here raises it for the data servers this process starts.

The usual soft limit on Linux desktops and servers is 1,024; the hard
limit is often much higher (systemd's default is 524,288; 20,000 on this
project's machine).
"""

import resource

# Descriptors a data server needs besides event files: its sockets, its
# log directory walk, its standard streams.
DATA_SERVER_RESERVE = 64

# Below this a data server cannot do much: no more servers are started to
# share fewer files than this each.
MIN_DATA_SERVER_FILES = 64


def limits():
    """`(soft, hard)`; `hard` is None when unlimited."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft, (None if hard == resource.RLIM_INFINITY else hard)


def raise_soft_limit():
    """Raises this process's soft open-files limit as far as the hard limit
    allows; returns the soft limit it leaves."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    while target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            return target
        except (ValueError, OSError):  # macOS caps below "unlimited"
            target //= 2
    return soft


def data_server_files(soft_limit):
    """How many event files one data server can hold under `soft_limit`."""
    return max(MIN_DATA_SERVER_FILES, soft_limit - DATA_SERVER_RESERVE)

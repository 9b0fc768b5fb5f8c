"""The bootstrap run by an operation's Python process.

Self-contained: its source is sent with `python -c`, so the operation does
not import guild (or TensorBoard). It rewrites the script's top-level flag
assignments in the AST, keeping line numbers, and runs it as `__main__`.
Its arguments: the main script, the flags as JSON, the run's source code
folder, then the script's own arguments.
"""

import inspect

__all__ = ["BOOTSTRAP", "assigned_name"]


def _rewrite_flag_assigns(tree, flags):
    import ast

    for node in tree.body:
        name = assigned_name(node)
        if name in flags and node.value is not None:
            node.value = ast.copy_location(ast.Constant(flags[name]), node.value)
    return tree


def assigned_name(node):
    """The name a top-level `name = value` statement assigns, or None."""
    import ast

    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
    elif isinstance(node, ast.AnnAssign) and node.simple:
        target = node.target
    else:
        return None
    return target.id if isinstance(target, ast.Name) else None


def _exec_main(main_path, flags_json, sourcecode_dir, *args):
    import ast
    import json
    import os
    import sys
    import traceback

    with open(main_path, "rb") as f:
        source = f.read()
    tree = _rewrite_flag_assigns(ast.parse(source, main_path), json.loads(flags_json))
    code = compile(tree, main_path, "exec")
    sys.argv = [main_path] + list(args)
    sys.path[0:1] = [os.path.dirname(main_path), sourcecode_dir]
    main_globals = {
        "__name__": "__main__",
        "__file__": main_path,
        "__builtins__": __builtins__,
        "__loader__": None,
        "__spec__": None,
        "__package__": None,
    }
    try:
        exec(code, main_globals)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException:
        etype, e, tb = sys.exc_info()
        traceback.print_exception(etype, e, tb.tb_next)
        sys.exit(1)


BOOTSTRAP = "\n".join(
    [
        "import sys",
        inspect.getsource(_rewrite_flag_assigns),
        inspect.getsource(assigned_name),
        inspect.getsource(_exec_main),
        "_exec_main(*sys.argv[1:])",
    ]
)

"""Guild's run filter expressions (`guild runs -F EXPR`), parsed once and
tested against each run.

The language, as Guild 0.9 defines it:

    expression : ( expression ) | NOT expression | runtest | term
               | expression AND expression | expression OR expression
    runtest    : NAME (= | != | <> | < | <= | > | >=) term
               | NAME IS [NOT] term | NAME [NOT] IN [term, ...]
               | NAME [NOT] CONTAINS term
    term       : number | 'string' | "string" | word | true | false
               | undefined | [term, ...]

Keywords are case-insensitive. AND and OR share one precedence and group
to the right (`a and b or c` is `a and (b or c)`); NOT binds tighter.
Numbers and quoted strings are YAML scalars (`0.5`, `1e-3`, `'a b'`); a
bare word is a string. A NAME is looked up as an attr,
then a flag, then a scalar's last value (`attr:`, `flag:` and `scalar:`
prefixes choose one; `scalar:eval#loss` names a folder's scalar). A
comparison that cannot be made (a missing value against a number) is
false; `contains` is a case-insensitive substring test, or membership for
a list value.
"""

import re

import yaml

from guild_tensorboard.runs import tokens

KEYWORDS = ("and", "or", "in", "not", "true", "false", "is", "undefined", "contains")

# Guild's tokens, in the order its lexer tries them at each position.
_TOKENS = re.compile(
    r"""
    (?P<LPAREN>\() | (?P<RPAREN>\)) | (?P<LBRACKET>\[) | (?P<RBRACKET>\])
    | (?P<NEQ><>|!=) | (?P<EQ>=) | (?P<LTE><=) | (?P<LT><) | (?P<GTE>>=) | (?P<GT>>)
    | (?P<COMMA>,)
    | (?P<WORD>[a-zA-Z][^ ,<>!=\n()\[\]]*)
    | (?P<NUMBER>-?\.?\d+(\.\d+)?(e(\+|-)?(\d+))?)
    | (?P<STRING>("([^\\\n]|(\\.))*?")|('([^\\\n]|(\\.))*?'))
    """,
    re.VERBOSE,
)

_COMPARISONS = {
    "EQ": lambda x, y: x == y,
    "NEQ": lambda x, y: x != y,
    "LT": lambda x, y: x < y,
    "LTE": lambda x, y: x <= y,
    "GT": lambda x, y: x > y,
    "GTE": lambda x, y: x >= y,
}


class FilterSyntaxError(ValueError):
    """A filter expression that does not parse; says where."""


def parse(text):
    """The filter `text` as a callable: `f(values)` is truthy for a run
    whose `values` (a `filter_values.RunValues`) pass."""
    parser = _Parser(_tokens(text))
    expr = parser.expression()
    parser.expect_end()
    return expr


def _tokens(text):
    def unexpected(char, pos):
        raise FilterSyntaxError("syntax error at position %i: unexpected character %r" % (pos, char))

    return [
        (value.upper() if kind == "WORD" and value.lower() in KEYWORDS else kind, value, pos)
        for kind, value, pos in tokens.tokenize(text, _TOKENS, unexpected)
    ]


class _NumberLoader(yaml.SafeLoader):
    """YAML as Guild reads a filter's numbers: `1e-3` and `1.0e3` are
    floats too (YAML 1.1 wants a `.` and a sign)."""


_NumberLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[eE][-+]?[0-9]+)$"),
    list("-+0123456789"),
)


def _unexpected(token):
    if token is None:
        raise FilterSyntaxError("syntax error: unexpected end of expression")
    raise FilterSyntaxError("syntax error at position %i: unexpected %r" % (token[2], token[1]))


def _yaml_scalar(text, pos):
    try:
        return yaml.load(text, Loader=_NumberLoader)
    except yaml.YAMLError:
        raise FilterSyntaxError("syntax error at position %i: bad value %s" % (pos, text)) from None


class _Parser(tokens.TokenStream):
    """Recursive descent over the tokens, one token of lookahead beyond the
    next (`x not in [...]`)."""

    def __init__(self, token_list):
        super().__init__(token_list, _unexpected)

    def expression(self):
        left = self.unary()
        if self.peek() == "AND":
            self.take("AND")
            return _And(left, self.expression())
        if self.peek() == "OR":
            self.take("OR")
            return _Or(left, self.expression())
        return left

    def unary(self):
        if self.peek() == "NOT":
            self.take("NOT")
            return _Not(self.unary())
        if self.peek() == "LPAREN":
            self.take("LPAREN")
            expr = self.expression()
            self.take("RPAREN")
            return expr
        if self.peek() == "WORD" and self.peek(1) in (
            "EQ", "NEQ", "LT", "LTE", "GT", "GTE", "IS", "IN", "NOT", "CONTAINS",
        ):
            return self.runtest()
        return self.term()

    def runtest(self):
        name = self.take("WORD")[1]
        kind = self.take("EQ", "NEQ", "LT", "LTE", "GT", "GTE", "IS", "IN", "NOT", "CONTAINS")[0]
        if kind in _COMPARISONS:
            return _Compare(name, _COMPARISONS[kind], self.term())
        if kind == "IS":
            negate = self.peek() == "NOT"
            if negate:
                self.take("NOT")
            return _Compare(name, _COMPARISONS["NEQ" if negate else "EQ"], self.term())
        negate = kind == "NOT"
        if negate:
            kind = self.take("IN", "CONTAINS")[0]
        if kind == "IN":
            return _In(name, self.term_list(), negate)
        return _Contains(name, self.term(), negate)

    def term(self):
        kind = self.peek()
        if kind == "LBRACKET":
            return self.term_list()
        kind, value, pos = self.take("NUMBER", "STRING", "WORD", "TRUE", "FALSE", "UNDEFINED")
        if kind in ("NUMBER", "STRING"):
            return _Value(_yaml_scalar(value, pos))
        return _Value({"TRUE": True, "FALSE": False, "UNDEFINED": None}.get(kind, value))

    def term_list(self):
        self.take("LBRACKET")
        terms = [self.term()]
        while self.peek() == "COMMA":
            self.take("COMMA")
            terms.append(self.term())
        self.take("RBRACKET")
        return _List(terms)


class _Value:
    def __init__(self, val):
        self.val = val

    def __call__(self, _values):
        return self.val


class _List:
    def __init__(self, terms):
        self.terms = terms

    def __call__(self, values):
        return [term(values) for term in self.terms]


class _And:
    def __init__(self, left, right):
        self.left, self.right = left, right

    def __call__(self, values):
        return self.left(values) and self.right(values)


class _Or:
    def __init__(self, left, right):
        self.left, self.right = left, right

    def __call__(self, values):
        return self.left(values) or self.right(values)


class _Not:
    def __init__(self, expr):
        self.expr = expr

    def __call__(self, values):
        return not self.expr(values)


class _Compare:
    def __init__(self, name, compare, target):
        self.name, self.compare, self.target = name, compare, target

    def __call__(self, values):
        try:
            return self.compare(values.lookup(self.name), self.target(values))
        except TypeError:
            return False


class _In:
    def __init__(self, name, targets, negate):
        self.name, self.targets, self.negate = name, targets, negate

    def __call__(self, values):
        found = values.lookup(self.name) in self.targets(values)
        return found != self.negate


class _Contains:
    def __init__(self, name, target, negate):
        self.name, self.target, self.negate = name, target, negate

    def __call__(self, values):
        val = values.lookup(self.name)
        if not val:
            return self.negate
        target = self.target(values)
        if isinstance(val, list):
            found = target in val
        else:
            found = str(target).lower() in str(val).lower()
        return found != self.negate

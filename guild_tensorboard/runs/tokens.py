"""Tokens of the small languages of run filters (`filter_expr`,
`time_range`): a regular expression of named groups matched at each
position, and a stream their parsers read with lookahead."""

SPACE = " \t\n"


def tokenize(text, pattern, unexpected):
    """`[(kind, text, position)]` of `text`, `kind` the name of the group of
    `pattern` that matched; whitespace between tokens is skipped.
    `unexpected(char, position)` raises for a character no group matches."""
    tokens = []
    pos = 0
    while pos < len(text):
        if text[pos] in SPACE:
            pos += 1
            continue
        m = pattern.match(text, pos)
        if m is None:
            unexpected(text[pos], pos)
        tokens.append((m.lastgroup, m.group(m.lastgroup), pos))
        pos = m.end()
    return tokens


class TokenStream:
    """The tokens, read in order; `unexpected(token)` (None at the end)
    raises the language's syntax error."""

    def __init__(self, tokens, unexpected):
        self.tokens = tokens
        self.i = 0
        self.unexpected = unexpected

    def peek(self, ahead=0):
        """The kind of the token `ahead` of the next, None past the end."""
        i = self.i + ahead
        return self.tokens[i][0] if i < len(self.tokens) else None

    def take(self, *kinds):
        """The next token, `(kind, value, position)`, which must be one of
        `kinds`."""
        if self.peek() not in kinds:
            self.unexpected(self.tokens[self.i] if self.i < len(self.tokens) else None)
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expect_end(self):
        if self.i < len(self.tokens):
            self.unexpected(self.tokens[self.i])

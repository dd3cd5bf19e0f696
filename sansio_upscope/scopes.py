"""OAuth scope strings (RFC 6749 §3.3): ``scope = scope-token *( SP scope-token )``.

* ``parse_scope(value)``: the valid scope-tokens of a ``scope`` value as a frozenset,
  and the tokens that break the grammar (reported, never sent anywhere).
* ``format_scope(scopes)``: scopes as one ``scope`` value, sorted and without repeats.
* ``invalid_scope_tokens(scopes)``: the tokens of ``scopes`` that break the grammar.
"""

from ._scopes import format_scope, invalid_scope_tokens, parse_scope

__all__ = ["format_scope", "invalid_scope_tokens", "parse_scope"]

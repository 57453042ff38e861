"""Ways faxes come in: SMTP (and later Exchange, API, CLI), each ending in a committed submission."""

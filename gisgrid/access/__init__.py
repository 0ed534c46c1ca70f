"""Who may see what: accounts and tokens, scope, privacy."""

"""Outbound use of a connection: the connection probe (test), data fetch with pagination,
endpoint discovery, and the calls bound to a connection's destination and credentials."""

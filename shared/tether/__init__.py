"""Tether: connector and credential service."""

"""Webhooks: signature schemes (pure), routing of inbound events, normalizers, and the signed
delivery of events to tenants."""

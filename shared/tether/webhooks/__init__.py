"""Webhooks: signature schemes (pure), routing of inbound events, normalizers, and the
ingestion of provider deliveries (:mod:`~tether.webhooks.ingestion`)."""

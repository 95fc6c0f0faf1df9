"""Webhooks: signature schemes (pure), routing of inbound events, normalizers, and the
ingestion of provider deliveries: a connection's own URL (:mod:`~tether.webhooks.provisioning`),
taking a delivery in (:mod:`~tether.webhooks.intake`, verified by
:mod:`~tether.webhooks.verification`) and processing it (:mod:`~tether.webhooks.processing`)."""

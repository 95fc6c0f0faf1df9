"""Events to tenants: the tenant's notify settings and signing secrets, and signed delivery
with retries, dead-lettering and replay."""

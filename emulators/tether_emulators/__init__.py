"""Local stand-ins for the Google Cloud services Tether uses that have no official emulator.

They speak the real gRPC APIs, built from the request and response types the Google client
packages ship, so the real client libraries talk to them unchanged:

- :mod:`tether_emulators.secret_manager` — Secret Manager v1;
- :mod:`tether_emulators.cloud_tasks` — Cloud Tasks v2, dispatching HTTP tasks for real;
- :mod:`tether_emulators.firestore` — a launcher for the official Firestore emulator;
- :mod:`tether_emulators.oauth_provider` — a local OAuth 2.0 provider (PKCE, ``iss``, refresh
  token rotation with reuse detection, RFC 7009 revocation, error injection) for tests and the
  demo.
"""

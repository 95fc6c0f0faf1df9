"""Local stand-ins for the Google Cloud services Tether uses that have no official emulator.

They speak the real gRPC APIs, built from the request and response types the Google client
packages ship, so the real client libraries talk to them unchanged:

- :mod:`tether_emulators.secret_manager` — Secret Manager v1;
- :mod:`tether_emulators.cloud_tasks` — Cloud Tasks v2, dispatching HTTP tasks for real;
- :mod:`tether_emulators.firestore` — a launcher for the official Firestore emulator.
"""

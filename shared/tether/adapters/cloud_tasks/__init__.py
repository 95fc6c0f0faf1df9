"""Deferred work on Google Cloud Tasks (HTTP targets with OIDC)."""

from tether.adapters.cloud_tasks.queue import CloudTasksQueue, task_id_for

__all__ = ["CloudTasksQueue", "task_id_for"]

# One queue per task kind with its own budget (Settings.task_queue: refresh, sync and deliver
# have their own, every other kind goes to default), so a flood of deliveries never delays
# token refreshes. Every queue allows at least TETHER_TASK_MAX_ATTEMPTS attempts: Tether
# itself decides when a delivery is dead (and records it), the queue must not drop it first.
# Backoff mirrors the embedded queue's (1 s doubling to 10 min).
locals {
  queue_prefix = "tether-"
  queues = {
    refresh = { rate = 20, concurrent = 20 }  # provider token endpoints are rate limited
    sync    = { rate = 10, concurrent = 10 }  # long runs against provider APIs
    deliver = { rate = 100, concurrent = 50 } # tenants' endpoints
    default = { rate = 50, concurrent = 50 }  # webhook processing, purges, sweeps
  }
}

resource "google_cloud_tasks_queue" "queue" {
  for_each = local.queues
  name     = "${local.queue_prefix}${each.key}"
  location = var.region

  rate_limits {
    max_dispatches_per_second = each.value.rate
    max_concurrent_dispatches = each.value.concurrent
  }

  retry_config {
    max_attempts  = var.task_max_attempts
    min_backoff   = "1s"
    max_backoff   = "600s"
    max_doublings = 10
  }

  stackdriver_logging_config {
    sampling_ratio = 1.0
  }

  depends_on = [google_project_service.apis]
}

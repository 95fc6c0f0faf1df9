# Periodic work: the `tasks` function's POST /<kind>, with an OIDC token of the task service
# account whose audience is the tasks URL (TETHER_TASKS_AUDIENCE), as Cloud Tasks sends.
locals {
  schedules = {
    sweep        = { schedule = var.refresh_sweep_schedule, description = "Refresh sweep: enqueue refreshes of tokens expiring soon" }
    housekeeping = { schedule = var.housekeeping_schedule, description = "Housekeeping: purge expired states and old records" }
    sync_due     = { schedule = var.sync_due_schedule, description = "Syncs: start the runs of the syncs that are due" }
  }
}

resource "google_cloud_scheduler_job" "job" {
  for_each         = local.schedules
  name             = "tether-${each.key}"
  description      = each.value.description
  region           = var.region
  schedule         = each.value.schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "600s"

  retry_config {
    retry_count = 1
  }

  http_target {
    http_method = "POST"
    uri         = "${local.tasks_url}/${each.key}"

    oidc_token {
      service_account_email = google_service_account.tasks_invoker.email
      audience              = local.tasks_url
    }
  }

  depends_on = [google_project_service.apis, google_cloud_run_v2_service_iam_member.tasks]
}

# Log-based metrics over the functions' JSON log lines (jsonPayload.logger / .message are
# written by tether.logs) and alert policies on them and on 5xx answers.
locals {
  log_metrics = {
    refresh_failures = {
      description = "OAuth token refreshes that failed"
      filter      = "jsonPayload.logger=\"tether.tokens\" AND jsonPayload.message=~\"^refresh of \\S+ failed\""
    }
    dead_deliveries = {
      description = "Deliveries to tenants given up after the last attempt (dead-lettered)"
      filter      = "jsonPayload.logger=\"tether.delivery\" AND jsonPayload.message=~\"^delivery \\S+ is dead after\""
    }
    failed_tasks = {
      description = "Tasks that failed for good, by task kind (sync runs among them)"
      filter      = "jsonPayload.logger=\"tether.tasks\" AND jsonPayload.message=~\"^task \\S+ failed for good\""
    }
  }

  alerts = {
    refresh_failures = { metric = "refresh_failures", extra = "", threshold = 5, display = "Tether: OAuth refreshes failing" }
    dead_deliveries  = { metric = "dead_deliveries", extra = "", threshold = 0, display = "Tether: deliveries dead-lettered" }
    failed_syncs     = { metric = "failed_tasks", extra = " AND metric.label.task_kind=\"sync\"", threshold = 0, display = "Tether: sync runs failing" }
  }
}

resource "google_logging_metric" "metric" {
  for_each    = local.log_metrics
  name        = "tether/${each.key}"
  description = each.value.description
  filter      = "resource.type=\"cloud_run_revision\" AND ${each.value.filter}"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key         = "task_kind"
      value_type  = "STRING"
      description = "The task kind (failed_tasks only)"
    }
  }

  label_extractors = {
    task_kind = "EXTRACT(jsonPayload.task_kind)"
  }

  depends_on = [google_project_service.apis]
}

resource "google_monitoring_alert_policy" "log_metric" {
  for_each              = local.alerts
  display_name          = each.value.display
  combiner              = "OR"
  notification_channels = var.notification_channels

  conditions {
    display_name = each.value.display
    condition_threshold {
      filter          = "resource.type=\"cloud_run_revision\" AND metric.type=\"logging.googleapis.com/user/${google_logging_metric.metric[each.value.metric].name}\"${each.value.extra}"
      comparison      = "COMPARISON_GT"
      threshold_value = each.value.threshold
      duration        = "0s"
      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_SUM"
      }
    }
  }
}

resource "google_monitoring_alert_policy" "server_errors" {
  display_name          = "Tether: 5xx answers"
  combiner              = "OR"
  notification_channels = var.notification_channels

  conditions {
    display_name = "More than 5% of a function's requests answered 5xx"
    condition_monitoring_query_language {
      query    = <<-MQL
        fetch cloud_run_revision
        | metric 'run.googleapis.com/request_count'
        | filter resource.service_name =~ '${join("|", [for name in keys(local.functions) : replace(name, "_", "-")])}'
        | align rate(5m)
        | group_by [resource.service_name],
            [errors: aggregate(if(metric.response_code_class == '5xx', val(), 0)),
             total: aggregate(val())]
        | value [ratio: div(errors, total)]
        | condition ratio > 0.05
      MQL
      duration = "300s"
    }
  }

  depends_on = [google_project_service.apis]
}

output "function_urls" {
  description = "Every function's URL, by entry point."
  value       = { for name, fn in google_cloudfunctions2_function.function : name => fn.url }
}

output "oauth_redirect_uri" {
  description = "The redirect URI to register with each OAuth provider (TETHER_OAUTH_CALLBACK_URL)."
  value       = local.callback_url
}

output "webhook_base_url" {
  description = "Base of the webhook URLs Tether issues (<base>/<token>, <base>/providers/<provider>)."
  value       = "${local.base_url}/webhooks"
}

output "tasks_service_account" {
  description = "The identity of Cloud Tasks and Cloud Scheduler calls to the tasks function."
  value       = google_service_account.tasks_invoker.email
}

output "secrets_to_fill" {
  description = "Secret ids whose values are set out of band (README.md)."
  value = concat(
    [google_secret_manager_secret.keyring.secret_id],
    [for s in google_secret_manager_secret.oauth_client : s.secret_id],
    [for s in google_secret_manager_secret.webhook : s.secret_id],
  )
}

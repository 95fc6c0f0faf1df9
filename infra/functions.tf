# One Cloud Function (2nd gen) per entry point of functions/main.py, each with its own
# service account. Names use hyphens (oauth_start is deployed as oauth-start); the URLs are
# https://<region>-<project>.cloudfunctions.net/<name>.
locals {
  base_url     = "https://${var.region}-${var.project_id}.cloudfunctions.net"
  tasks_url    = "${local.base_url}/tasks"
  callback_url = "${local.base_url}/oauth-callback"

  # access: public = anyone, no token (provider redirects, signed webhooks, the catalog);
  #         tenant = reachable by browsers, Tether refuses any call without a valid bearer
  #                  token of the tenant (Cloud Run cannot check Firebase/OIDC tokens of end
  #                  users, so the invoker binding is allUsers and the function checks);
  #         tasks  = internal ingress, invoked only by the task service account (OIDC).
  functions = {
    catalog = {
      description   = "Public provider catalog"
      memory        = "256Mi"
      timeout       = 30
      max_instances = 20
      access        = "public"
    }
    connections = {
      description   = "Tenant connections: create, list, read, update, delete"
      memory        = "512Mi"
      timeout       = 60
      max_instances = 20
      access        = "tenant"
    }
    oauth_start = {
      description   = "Start an OAuth2 authorization"
      memory        = "256Mi"
      timeout       = 30
      max_instances = 10
      access        = "tenant"
    }
    oauth_callback = {
      description   = "The providers' OAuth2 redirect URI"
      memory        = "256Mi"
      timeout       = 60
      max_instances = 10
      access        = "public"
    }
    test_connection = {
      description   = "Test a connection's credentials"
      memory        = "256Mi"
      timeout       = 60
      max_instances = 10
      access        = "tenant"
    }
    fetch = {
      description   = "Fetch from a connection's API with pagination"
      memory        = "512Mi"
      timeout       = 300
      max_instances = 20
      access        = "tenant"
    }
    actions = {
      description   = "Typed provider actions of a connection"
      memory        = "512Mi"
      timeout       = 120
      max_instances = 20
      access        = "tenant"
    }
    mcp = {
      description   = "MCP server: the caller's actions as tools for MCP clients"
      memory        = "512Mi"
      timeout       = 120
      max_instances = 20
      access        = "tenant"
    }
    proxy = {
      description   = "Pass-through to a connection's API, credentials attached"
      memory        = "512Mi"
      timeout       = 120
      max_instances = 20
      access        = "tenant"
    }
    webhooks = {
      description   = "Provider webhooks, signature-verified"
      memory        = "256Mi"
      timeout       = 30
      max_instances = 50
      access        = "public"
    }
    connect_sessions = {
      description   = "Connect sessions: one end user's short-lived browser access"
      memory        = "256Mi"
      timeout       = 30
      max_instances = 10
      access        = "tenant"
    }
    connect = {
      description   = "The hosted Connect page and its embed script"
      memory        = "256Mi"
      timeout       = 30
      max_instances = 20
      access        = "public"
    }
    settings = {
      description   = "The tenant's notify URL and signing secret"
      memory        = "256Mi"
      timeout       = 30
      max_instances = 5
      access        = "tenant"
    }
    syncs = {
      description   = "A connection's syncs: settings, runs"
      memory        = "256Mi"
      timeout       = 30
      max_instances = 10
      access        = "tenant"
    }
    records = {
      description   = "Synced records read as changes"
      memory        = "512Mi"
      timeout       = 60
      max_instances = 20
      access        = "tenant"
    }
    tasks = {
      description   = "Cloud Tasks and Cloud Scheduler target"
      memory        = "512Mi"
      timeout       = 600
      max_instances = 20
      access        = "tasks"
    }
  }

  # Every function gets the same settings (each one checks the whole configuration at start).
  # Empty values count as unset.
  environment = {
    TETHER_MODE                  = "cloud"
    TETHER_STORE                 = "firestore"
    TETHER_SECRETS               = "secret_manager"
    TETHER_TASKS                 = "cloud_tasks"
    TETHER_KEYRING_SECRET        = "${google_secret_manager_secret.keyring.id}/versions/latest"
    TETHER_AUTH                  = var.auth_mode
    TETHER_JWKS_URL              = var.jwks_url
    TETHER_JWT_ISSUER            = var.jwt_issuer
    TETHER_JWT_AUDIENCE          = var.jwt_audience
    TETHER_TENANT_CLAIM          = var.tenant_claim
    GOOGLE_CLOUD_PROJECT         = var.project_id
    TETHER_FIRESTORE_DATABASE    = google_firestore_database.main.name
    TETHER_SECRET_KMS_KEY        = var.secret_kms_key
    TETHER_TASKS_LOCATION        = var.region
    TETHER_TASKS_QUEUE_PREFIX    = local.queue_prefix
    TETHER_TASKS_URL             = local.tasks_url
    TETHER_TASKS_AUDIENCE        = local.tasks_url
    TETHER_TASKS_SERVICE_ACCOUNT = google_service_account.tasks_invoker.email
    TETHER_TASK_MAX_ATTEMPTS     = tostring(var.task_max_attempts)
    TETHER_PUBLIC_URL            = local.base_url
    TETHER_OAUTH_CALLBACK_URL    = local.callback_url
    TETHER_FRONTEND_URL          = var.frontend_url
    TETHER_ALLOWED_RETURN_URLS   = var.allowed_return_urls
    TETHER_LOG_LEVEL             = var.log_level
  }

  oauth_client_ids = {
    for key, client_id in var.oauth_clients :
    "TETHER_OAUTH_CLIENT_${upper(key)}_ID" => client_id
  }

  # Secret environment: variable => secret id, per function (OAuth client secrets where
  # tokens are exchanged or refreshed; webhook secrets where they are verified). The keyring
  # is not among them: each instance reads it from TETHER_KEYRING_SECRET and re-reads it
  # every minute, so a key added by `tether keys generate --add` needs no redeploy.
  secret_environment = {
    for name, fn in local.functions : name => merge(
      contains(local.function_grants[name], "oauth_clients") ? {
        for key in keys(var.oauth_clients) :
        "TETHER_OAUTH_CLIENT_${upper(key)}_SECRET" => google_secret_manager_secret.oauth_client[key].secret_id
      } : {},
      contains(local.function_grants[name], "webhook_secrets") ? {
        for key in var.webhook_providers :
        "TETHER_WEBHOOK_SECRET_${upper(key)}" => google_secret_manager_secret.webhook[key].secret_id
      } : {},
    )
  }
}

resource "google_cloudfunctions2_function" "function" {
  for_each = local.functions

  name        = replace(each.key, "_", "-")
  location    = var.region
  description = each.value.description

  build_config {
    runtime         = "python311"
    entry_point     = each.key
    service_account = google_service_account.build.id
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.bundle.name
      }
    }
  }

  service_config {
    available_memory               = each.value.memory
    timeout_seconds                = each.value.timeout
    max_instance_count             = each.value.max_instances
    ingress_settings               = each.value.access == "tasks" ? "ALLOW_INTERNAL_ONLY" : "ALLOW_ALL"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.function[each.key].email
    environment_variables          = merge(local.environment, local.oauth_client_ids)

    dynamic "secret_environment_variables" {
      for_each = local.secret_environment[each.key]
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }
  }

  depends_on = [
    google_project_service.apis,
    google_secret_manager_secret_iam_member.keyring,
    google_secret_manager_secret_iam_member.oauth_client,
    google_secret_manager_secret_iam_member.webhook,
    google_project_iam_member.build,
  ]
}

# One service account per function, holding only what that function does (README.md has the
# same table with the reasons; a test keeps the two equal).
#   firestore          roles/datastore.user on the project: the store
#   credentials        tether credential secrets (custom role) on secrets named tether-*:
#                      create, add versions, read, disable/destroy old versions, delete
#   credentials_read   roles/secretmanager.secretAccessor on secrets named tether-*
#   enqueue            roles/cloudtasks.enqueuer on the queues, and roles/iam.serviceAccountUser
#                      on the task service account whose OIDC tokens the tasks carry
#   oauth_clients      roles/secretmanager.secretAccessor on each tetherapp-oauth-* secret
#   webhook_secrets    roles/secretmanager.secretAccessor on each tetherapp-webhook-* secret
# Every function reads the keyring secret (roles/secretmanager.secretAccessor on it): each
# one loads the keyring at start and refuses to run without it.
locals {
  function_grants = {
    catalog         = []
    connections     = ["firestore", "credentials", "enqueue"]
    oauth_start     = ["firestore", "credentials_read", "oauth_clients"]
    oauth_callback  = ["firestore", "credentials", "enqueue", "oauth_clients"]
    test_connection = ["firestore", "credentials", "enqueue", "oauth_clients"]
    fetch           = ["firestore", "credentials", "enqueue", "oauth_clients"]
    actions         = ["firestore", "credentials", "enqueue", "oauth_clients"]
    proxy           = ["firestore", "credentials", "enqueue", "oauth_clients"]
    mcp             = ["firestore", "credentials", "enqueue", "oauth_clients"]
    webhooks        = ["firestore", "credentials_read", "enqueue", "webhook_secrets"]
    settings        = ["firestore"]
    syncs           = ["firestore", "enqueue"]
    records         = ["firestore"]
    tasks           = ["firestore", "credentials", "enqueue", "oauth_clients"]
    # sessions and their audit entries; the page reads a session's allowed origins
    connect_sessions = ["firestore"]
    connect          = ["firestore"]
  }

  function_accounts = {
    catalog          = "tether-catalog"
    connections      = "tether-connections"
    oauth_start      = "tether-oauth-start"
    oauth_callback   = "tether-oauth-callback"
    test_connection  = "tether-test-connection"
    fetch            = "tether-fetch"
    actions          = "tether-actions"
    proxy            = "tether-proxy"
    mcp              = "tether-mcp"
    webhooks         = "tether-webhooks"
    settings         = "tether-settings"
    syncs            = "tether-syncs"
    records          = "tether-records"
    tasks            = "tether-tasks"
    connect_sessions = "tether-connect-sessions"
    connect          = "tether-connect"
  }

  credentials_condition = {
    title       = "tether-credential-secrets"
    description = "Only the per-connection credential secrets (tether-<tenant hash>-<connection id>)"
    expression  = "resource.name.startsWith(\"${local.credential_secrets_name}\")"
  }
}

resource "google_service_account" "function" {
  for_each     = local.function_accounts
  account_id   = each.value
  display_name = "Tether ${each.key} function"
}

# The identity of the OIDC tokens Cloud Tasks and Cloud Scheduler send to the tasks function.
resource "google_service_account" "tasks_invoker" {
  account_id   = "tether-tasks-invoker"
  display_name = "Tether task and scheduler calls"
}

resource "google_project_iam_custom_role" "credential_secrets" {
  role_id     = "tetherCredentialSecrets"
  title       = "Tether credential secrets"
  description = "What the Secret Manager credential store does with per-connection secrets."
  permissions = [
    "secretmanager.secrets.create",
    "secretmanager.secrets.delete",
    "secretmanager.versions.access",
    "secretmanager.versions.add",
    "secretmanager.versions.destroy",
    "secretmanager.versions.disable",
  ]
}

resource "google_project_iam_member" "firestore" {
  for_each = { for name, grants in local.function_grants : name => grants if contains(grants, "firestore") }
  project  = var.project_id
  role     = "roles/datastore.user"
  member   = "serviceAccount:${google_service_account.function[each.key].email}"
}

resource "google_project_iam_member" "credentials" {
  for_each = { for name, grants in local.function_grants : name => grants if contains(grants, "credentials") }
  project  = var.project_id
  role     = google_project_iam_custom_role.credential_secrets.name
  member   = "serviceAccount:${google_service_account.function[each.key].email}"

  condition {
    title       = local.credentials_condition.title
    description = local.credentials_condition.description
    expression  = local.credentials_condition.expression
  }
}

resource "google_project_iam_member" "credentials_read" {
  for_each = { for name, grants in local.function_grants : name => grants if contains(grants, "credentials_read") }
  project  = var.project_id
  role     = "roles/secretmanager.secretAccessor"
  member   = "serviceAccount:${google_service_account.function[each.key].email}"

  condition {
    title       = local.credentials_condition.title
    description = local.credentials_condition.description
    expression  = local.credentials_condition.expression
  }
}

resource "google_secret_manager_secret_iam_member" "keyring" {
  for_each  = local.function_grants
  secret_id = google_secret_manager_secret.keyring.id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function[each.key].email}"
}

resource "google_secret_manager_secret_iam_member" "oauth_client" {
  for_each = {
    for pair in setproduct([for name, grants in local.function_grants : name if contains(grants, "oauth_clients")], keys(var.oauth_clients)) :
    "${pair[0]}/${pair[1]}" => { function = pair[0], provider = pair[1] }
  }
  secret_id = google_secret_manager_secret.oauth_client[each.value.provider].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

resource "google_secret_manager_secret_iam_member" "webhook" {
  for_each = {
    for pair in setproduct([for name, grants in local.function_grants : name if contains(grants, "webhook_secrets")], tolist(var.webhook_providers)) :
    "${pair[0]}/${pair[1]}" => { function = pair[0], provider = pair[1] }
  }
  secret_id = google_secret_manager_secret.webhook[each.value.provider].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

resource "google_cloud_tasks_queue_iam_member" "enqueue" {
  for_each = {
    for pair in setproduct([for name, grants in local.function_grants : name if contains(grants, "enqueue")], keys(local.queues)) :
    "${pair[0]}/${pair[1]}" => { function = pair[0], queue = pair[1] }
  }
  name     = google_cloud_tasks_queue.queue[each.value.queue].name
  location = var.region
  role     = "roles/cloudtasks.enqueuer"
  member   = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

resource "google_service_account_iam_member" "enqueue_as_invoker" {
  for_each           = { for name, grants in local.function_grants : name => grants if contains(grants, "enqueue") }
  service_account_id = google_service_account.tasks_invoker.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.function[each.key].email}"
}

# Who may call each function (Cloud Run invoker on the function's service). allUsers only for
# the listed public and tenant functions: provider redirects, provider webhooks (signature
# verified), the public catalog, and tenant endpoints, which check the tenant's bearer token
# themselves (Cloud Run IAM cannot verify end users' Firebase or OIDC tokens).
resource "google_cloud_run_v2_service_iam_member" "public" {
  for_each = { for name, fn in local.functions : name => fn if contains(["public", "tenant"], fn.access) }
  name     = google_cloudfunctions2_function.function[each.key].service_config[0].service
  location = var.region
  role     = "roles/run.invoker"
  member   = "allUsers"
}

resource "google_cloud_run_v2_service_iam_member" "tasks" {
  for_each = { for name, fn in local.functions : name => fn if fn.access == "tasks" }
  name     = google_cloudfunctions2_function.function[each.key].service_config[0].service
  location = var.region
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.tasks_invoker.email}"
}

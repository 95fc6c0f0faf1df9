variable "project_id" {
  description = "The Google Cloud project Tether is deployed into."
  type        = string
}

variable "region" {
  description = "Region of the functions, the task queues and the scheduler jobs."
  type        = string
  default     = "us-central1"
}

variable "firestore_location" {
  description = "Location of the Firestore database (a multi-region such as nam5 or eur3, or a region). Cannot be changed later."
  type        = string
  default     = "nam5"
}

variable "bundle_path" {
  description = "The source bundle built by `make package` (`tether package`)."
  type        = string
  default     = "../dist/tether-functions.zip"
}

variable "auth_mode" {
  description = "How tenant calls are authenticated: firebase (Firebase / Identity Platform ID tokens of this project) or jwks (any OIDC issuer; set the jwt_* variables)."
  type        = string
  default     = "firebase"

  validation {
    condition     = contains(["firebase", "jwks"], var.auth_mode)
    error_message = "auth_mode is firebase or jwks (dev auth is for `tether dev` only)."
  }
}

variable "jwks_url" {
  description = "With auth_mode = jwks: the issuer's JWKS URL."
  type        = string
  default     = ""
}

variable "jwt_issuer" {
  description = "With auth_mode = jwks: the expected `iss` of tenant tokens."
  type        = string
  default     = ""
}

variable "jwt_audience" {
  description = "With auth_mode = jwks: the expected `aud` of tenant tokens."
  type        = string
  default     = ""
}

variable "tenant_claim" {
  description = "The token claim that carries the tenant id."
  type        = string
  default     = "tenant_id"
}

variable "frontend_url" {
  description = "Origins of the product's frontend allowed by CORS, comma-separated (e.g. https://app.example.com)."
  type        = string
  default     = ""
}

variable "allowed_return_urls" {
  description = "URL prefixes the OAuth callback may redirect back to (return_to), comma-separated."
  type        = string
  default     = ""
}

variable "oauth_clients" {
  description = "OAuth clients of enabled providers: catalog provider key => client id. Each gets a Secret Manager secret tetherapp-oauth-<key> for its client secret (value set out of band)."
  type        = map(string)
  default     = {}
}

variable "webhook_providers" {
  description = "Catalog provider keys with an app-level webhook signing secret. Each gets a Secret Manager secret tetherapp-webhook-<key> (value set out of band)."
  type        = set(string)
  default     = []
}

variable "secret_kms_key" {
  description = "Optional CMEK: a Cloud KMS key in the global location (projects/…/locations/global/keyRings/…/cryptoKeys/…) that encrypts Tether's secrets, the app-level ones created here and the per-connection ones the functions create. Empty: Google-managed keys."
  type        = string
  default     = ""
}

variable "task_max_attempts" {
  description = "Attempts per task (Cloud Tasks max_attempts and TETHER_TASK_MAX_ATTEMPTS, so a delivery is dead-lettered by Tether, not dropped by the queue)."
  type        = number
  default     = 8
}

variable "refresh_sweep_schedule" {
  description = "Cron schedule of the refresh sweep (tokens expiring soon are refreshed); keep it shorter than the 15-minute sweep window."
  type        = string
  default     = "*/5 * * * *"
}

variable "housekeeping_schedule" {
  description = "Cron schedule of housekeeping (expired OAuth states, old deliveries, webhook events and audit entries)."
  type        = string
  default     = "17 * * * *"
}

variable "sync_due_schedule" {
  description = "Cron schedule of the start of due syncs (a sync runs at most this often, whatever its frequency)."
  type        = string
  default     = "* * * * *"
}

variable "notification_channels" {
  description = "Cloud Monitoring notification channel ids that the alert policies notify."
  type        = list(string)
  default     = []
}

variable "log_level" {
  description = "TETHER_LOG_LEVEL of every function."
  type        = string
  default     = "INFO"
}
